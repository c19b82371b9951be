package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Command-line parsing of the job's options, and that secret Kafka settings are never printed. */
class JobOptionsTest {
    static final String JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"job\" "
            + "password=\"pw-7d1e0c\";";

    @Test
    void kafkaSettingsReachTheClientsUnchangedButSecretValuesAreHiddenWhenPrinted() {
        JobOptions o = JobOptions.parse(new String[] {"--model", "m",
            "--kafka.security.protocol", "SASL_SSL", "--kafka.sasl.mechanism", "SCRAM-SHA-512",
            "--kafka.sasl.jaas.config", JAAS,
            "--kafka.ssl.truststore.location", "/etc/kafka/truststore.p12", "--kafka.ssl.truststore.password", "ts-pw-51",
            "--kafka.ssl.keystore.key", "-----BEGIN PRIVATE KEY----- kk-93",
            "--kafka.sasl.oauthbearer.client.credentials.client.secret", "oauth-77",
            "--kafka.config.providers.vault.param.token", "vault-tok-31"});
        assertEquals(JAAS, o.kafkaProperties().getProperty("sasl.jaas.config"));
        assertEquals("ts-pw-51", o.kafkaProperties().getProperty("ssl.truststore.password"));
        String shown = o.toString();
        for (String secret : List.of("pw-7d1e0c", "ts-pw-51", "kk-93", "oauth-77", "vault-tok-31")) {
            assertFalse(shown.contains(secret), secret + " printed in " + shown);
        }
        assertTrue(shown.contains("sasl.jaas.config=[hidden]"), shown);
        assertTrue(shown.contains("security.protocol=SASL_SSL") && shown.contains("sasl.mechanism=SCRAM-SHA-512")
                && shown.contains("ssl.truststore.location=/etc/kafka/truststore.p12"), "non-secret settings stay readable: " + shown);
    }

    @Test
    void secretsAreRecognisedByKafkasPasswordTypeAndByName() {
        for (String k : List.of("sasl.jaas.config", "ssl.key.password", "ssl.keystore.password", "ssl.truststore.password",
                "ssl.keystore.key", "ssl.keystore.certificate.chain", "sasl.oauthbearer.client.credentials.client.secret",
                "config.providers.vault.param.secret.id", "listener.name.x.plain.sasl.jaas.config")) {
            assertTrue(JobOptions.isSecret(k), k);
        }
        for (String k : List.of("security.protocol", "sasl.mechanism", "bootstrap.servers", "ssl.truststore.location",
                "ssl.truststore.type", "key.serializer", "config.providers", "config.providers.env.class",
                "ssl.endpoint.identification.algorithm")) {
            assertFalse(JobOptions.isSecret(k), k);
        }
    }

    @Test
    void dtypeIsOneOfTheComputeDtypesAndShownWhenSet() {
        assertTrue(JobOptions.parse(new String[] {"--model", "m", "--dtype", "bfloat16"}).toString().contains("dtype=bfloat16"));
        assertFalse(JobOptions.parse(new String[] {"--model", "m"}).toString().contains("dtype="));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JobOptions.parse(new String[] {"--model", "m", "--dtype", "int8"}));
        assertTrue(e.getMessage().contains("--dtype"), e.getMessage());
    }

    @Test
    void nameEqualsValueParsesLikeNameThenValue() {
        JobOptions o = JobOptions.parse(new String[] {"--model=m", "--max-batch=4", "--kafka.sasl.jaas.config=" + JAAS});
        assertEquals(4, o.maxBatch);
        assertEquals("m", o.model);
        assertEquals(JAAS, o.kafkaProperties().getProperty("sasl.jaas.config"), "only the first '=' separates");
    }

    @Test
    void aSecretSplitByMissingQuotesIsNotEchoedInTheError() {
        // What an unquoted JAAS value becomes in a shell: several words.
        String[] args = {"--model", "m", "--kafka.sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule",
            "required", "username=\"job\"", "password=\"hunter2-secret\";"};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobOptions.parse(args));
        String first = e.getMessage().lines().findFirst().orElseThrow();   // the usage text follows
        assertFalse(first.contains("required") || e.getMessage().contains("hunter2"), e.getMessage());
        assertTrue(e.getMessage().contains("after --kafka.sasl.jaas.config") && e.getMessage().contains("quote"), e.getMessage());

        IllegalArgumentException plain = assertThrows(IllegalArgumentException.class,
                () -> JobOptions.parse(new String[] {"--model", "m", "stray"}));
        assertTrue(plain.getMessage().contains("'stray'"), "a stray word after an ordinary option is shown: " + plain.getMessage());
    }

    @Test
    void aMissingValueNamesTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JobOptions.parse(new String[] {"--model", "m", "--kafka.sasl.jaas.config"}));
        assertEquals("option --kafka.sasl.jaas.config needs a value", e.getMessage());
    }
    @Test
    void routerReachesTheOperatorSettingsAndABrokenRouterFileFailsTheSubmission(@org.junit.jupiter.api.io.TempDir
                                                                                java.nio.file.Path dir) throws Exception {
        String shipped = TestPaths.root().resolve("models/adapters/router.json").toString();
        JobOptions o = JobOptions.parse(new String[] {"--model", "m", "--router", shipped});
        assertEquals(shipped, o.router);
        assertEquals(shipped, o.generationSettings().routerFile(), "the operator opens it");
        assertTrue(o.toString().contains("router=" + shipped));
        assertEquals(null, JobOptions.parse(new String[] {"--model", "m"}).router);
        java.nio.file.Path broken = dir.resolve("router.json");
        java.nio.file.Files.writeString(broken, "{\"tasks\": [], \"top_k\": 1}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JobOptions.parse(new String[] {"--model", "m", "--router", broken.toString()}));
        assertTrue(e.getMessage().startsWith("--router " + broken), e.getMessage());
    }
}
