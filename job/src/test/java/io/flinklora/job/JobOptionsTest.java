package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Command-line parsing of the job's options, and that secret Kafka settings are never printed. */
class JobOptionsTest {
    @Test
    void aModelFolderTheEngineWouldRefuseIsRefusedBeforeTheJobIsBuilt(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path model = TestPaths.root().resolve("models/stories260k");
        for (String f : new String[] {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
            java.nio.file.Files.copy(model.resolve(f), dir.resolve(f));
        }
        java.nio.file.Files.writeString(
                dir.resolve("generation_config.json"), "{\"suppress_tokens\": [5]}");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> JobOptions.parse(new String[] {"--model", dir.toString()}));
        assertTrue(e.getMessage().contains("suppress_tokens"), e.getMessage());
        // Told to ignore the file's defaults, the same folder is accepted.
        JobOptions.parse(new String[] {"--model", dir.toString(), "--generation-config", "engine"});
    }

    static final String JAAS =
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"job\" "
                    + "password=\"pw-7d1e0c\";";

    @Test
    void kafkaSettingsReachTheClientsUnchangedButSecretValuesAreHiddenWhenPrinted() {
        JobOptions o =
                JobOptions.parse(
                        new String[] {
                            "--model",
                            "m",
                            "--kafka.security.protocol",
                            "SASL_SSL",
                            "--kafka.sasl.mechanism",
                            "SCRAM-SHA-512",
                            "--kafka.sasl.jaas.config",
                            JAAS,
                            "--kafka.ssl.truststore.location",
                            "/etc/kafka/truststore.p12",
                            "--kafka.ssl.truststore.password",
                            "ts-pw-51",
                            "--kafka.ssl.keystore.key",
                            "-----BEGIN PRIVATE KEY----- kk-93",
                            "--kafka.sasl.oauthbearer.client.credentials.client.secret",
                            "oauth-77",
                            "--kafka.config.providers.vault.param.token",
                            "vault-tok-31"
                        });
        assertEquals(JAAS, o.kafkaProperties().getProperty("sasl.jaas.config"));
        assertEquals("ts-pw-51", o.kafkaProperties().getProperty("ssl.truststore.password"));
        String shown = o.toString();
        for (String secret :
                List.of("pw-7d1e0c", "ts-pw-51", "kk-93", "oauth-77", "vault-tok-31")) {
            assertFalse(shown.contains(secret), secret + " printed in " + shown);
        }
        assertTrue(shown.contains("sasl.jaas.config=[hidden]"), shown);
        assertTrue(
                shown.contains("security.protocol=SASL_SSL")
                        && shown.contains("sasl.mechanism=SCRAM-SHA-512")
                        && shown.contains("ssl.truststore.location=/etc/kafka/truststore.p12"),
                "non-secret settings stay readable: " + shown);
    }

    @Test
    void secretsAreRecognisedByKafkasPasswordTypeAndByName() {
        for (String k :
                List.of(
                        "sasl.jaas.config",
                        "ssl.key.password",
                        "ssl.keystore.password",
                        "ssl.truststore.password",
                        "ssl.keystore.key",
                        "ssl.keystore.certificate.chain",
                        "sasl.oauthbearer.client.credentials.client.secret",
                        "config.providers.vault.param.secret.id",
                        "listener.name.x.plain.sasl.jaas.config")) {
            assertTrue(JobOptions.isSecret(k), k);
        }
        for (String k :
                List.of(
                        "security.protocol",
                        "sasl.mechanism",
                        "bootstrap.servers",
                        "ssl.truststore.location",
                        "ssl.truststore.type",
                        "key.serializer",
                        "config.providers",
                        "config.providers.env.class",
                        "ssl.endpoint.identification.algorithm")) {
            assertFalse(JobOptions.isSecret(k), k);
        }
    }

    @Test
    void dtypeIsOneOfTheComputeDtypesAndShownWhenSet() {
        assertTrue(
                JobOptions.parse(new String[] {"--model", "m", "--dtype", "bfloat16"})
                        .toString()
                        .contains("dtype=bfloat16"));
        assertFalse(JobOptions.parse(new String[] {"--model", "m"}).toString().contains("dtype="));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> JobOptions.parse(new String[] {"--model", "m", "--dtype", "int8"}));
        assertTrue(e.getMessage().contains("--dtype"), e.getMessage());
    }

    @Test
    void nameEqualsValueParsesLikeNameThenValue() {
        JobOptions o =
                JobOptions.parse(
                        new String[] {
                            "--model=m", "--max-batch=4", "--kafka.sasl.jaas.config=" + JAAS
                        });
        assertEquals(4, o.engine.maxBatch);
        assertEquals("m", o.engine.model);
        assertEquals(
                JAAS,
                o.kafkaProperties().getProperty("sasl.jaas.config"),
                "only the first '=' separates");
    }

    @Test
    void aSecretSplitByMissingQuotesIsNotEchoedInTheError() {
        // What an unquoted JAAS value becomes in a shell: several words.
        String[] args = {
            "--model",
            "m",
            "--kafka.sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule",
            "required",
            "username=\"job\"",
            "password=\"hunter2-secret\";"
        };
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> JobOptions.parse(args));
        String first = e.getMessage().lines().findFirst().orElseThrow(); // the usage text follows
        assertFalse(
                first.contains("required") || e.getMessage().contains("hunter2"), e.getMessage());
        assertTrue(
                e.getMessage().contains("after --kafka.sasl.jaas.config")
                        && e.getMessage().contains("quote"),
                e.getMessage());

        IllegalArgumentException plain =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> JobOptions.parse(new String[] {"--model", "m", "stray"}));
        assertTrue(
                plain.getMessage().contains("'stray'"),
                "a stray word after an ordinary option is shown: " + plain.getMessage());
    }

    @Test
    void aMissingValueNamesTheOption() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                JobOptions.parse(
                                        new String[] {"--model", "m", "--kafka.sasl.jaas.config"}));
        assertEquals("option --kafka.sasl.jaas.config needs a value", e.getMessage());
    }

    @Test
    void routerReachesTheOperatorSettingsAndABrokenRouterFileFailsTheSubmission(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        String shipped = TestPaths.root().resolve("models/adapters/router.json").toString();
        JobOptions o = JobOptions.parse(new String[] {"--model", "m", "--router", shipped});
        assertEquals(shipped, o.router);
        assertEquals(shipped, o.generationSettings().routerFile(), "the operator opens it");
        assertTrue(o.toString().contains("router=" + shipped));
        assertEquals(null, JobOptions.parse(new String[] {"--model", "m"}).router);
        java.nio.file.Path broken = dir.resolve("router.json");
        java.nio.file.Files.writeString(broken, "{\"tasks\": [], \"top_k\": 1}");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                JobOptions.parse(
                                        new String[] {
                                            "--model", "m", "--router", broken.toString()
                                        }));
        assertTrue(e.getMessage().startsWith("--router " + broken), e.getMessage());
    }

    @Test
    void anUnknownOptionNamesItselfButNotItsValue() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                JobOptions.parse(
                                        new String[] {
                                            "--model", "m", "--kafk.sasl.jaas.config=pw-5510"
                                        }));
        assertTrue(
                e.getMessage().startsWith("unknown option --kafk.sasl.jaas.config"),
                e.getMessage());
        assertFalse(e.getMessage().contains("pw-5510"), e.getMessage());
        IllegalArgumentException spaced =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> JobOptions.parse(new String[] {"--model", "m", "--max-bach", "4"}));
        assertTrue(
                spaced.getMessage().startsWith("unknown option --max-bach"), spaced.getMessage());
    }

    @Test
    void aBadValueNamesTheOption() {
        for (String[] bad :
                List.of(
                        new String[] {"--max-batch", "0"},
                        new String[] {"--max-batch=x"},
                        new String[] {"--prefix-caching", "yes"},
                        new String[] {"--delivery", "twice"})) {
            String[] args =
                    java.util.stream.Stream.concat(
                                    java.util.stream.Stream.of("--model", "m"),
                                    java.util.Arrays.stream(bad))
                            .toArray(String[]::new);
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> JobOptions.parse(args));
            String name = bad[0].split("=")[0];
            assertTrue(e.getMessage().contains(name), e.getMessage());
        }
        assertEquals(
                JobOptions.Delivery.AT_LEAST_ONCE,
                JobOptions.parse(new String[] {"--model", "m", "--delivery", "at-least-once"})
                        .delivery);
        assertFalse(
                JobOptions.parse(new String[] {"--model", "m", "--prefix-caching=off"})
                        .engine
                        .prefixCaching);
    }

    @Test
    void helpAsksForUsageWhichShowsTheEnginesDefaults() {
        assertEquals(null, JobOptions.parse(new String[] {"--help"}));
        String usage = JobOptions.usage();
        assertTrue(
                usage.contains("--max-batch=N")
                        && usage.contains(
                                "(default "
                                        + io.flinklora.gpu.engine.EngineConfig.DEFAULT_MAX_RUNNING
                                        + ")"),
                usage);
        assertTrue(
                usage.contains(
                        "(default "
                                + io.flinklora.gpu.sampling.RequestLimits.DEFAULT.maxPromptTokens()
                                + ")"),
                usage);
        assertTrue(
                usage.contains("--kafka.<property>")
                        && usage.contains("password=\"${env:KAFKA_PASSWORD}\""),
                usage);
    }

    @Test
    void noOptionsButTheModelGiveTheEnginesOwnDefaults() {
        assertEquals(
                io.flinklora.gpu.engine.EngineConfig.builder(java.nio.file.Path.of("m")).build(),
                JobOptions.parse(new String[] {"--model", "m"})
                        .generationSettings()
                        .engineConfig(ai.djl.Device.cpu()));
    }

    @Test
    void theAvroRegistryFormatNeedsASchemaRegistryAndOutputFormatStaysAnAlias() {
        JobOptions o =
                JobOptions.parse(
                        new String[] {
                            "--model",
                            "m",
                            "--format",
                            "avro-registry",
                            "--schema-registry",
                            "http://registry:8080"
                        });
        assertEquals(io.flinklora.operators.kafka.OutputFormat.AVRO_REGISTRY, o.outputFormat());
        assertEquals("http://registry:8080/apis/registry/v2", o.schemaRegistry().apiUrl());
        assertTrue(
                o.toString()
                        .contains(
                                "format=avro-registry schema-registry=http://registry:8080/apis/registry/v2"),
                o.toString());
        IllegalArgumentException none =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                JobOptions.parse(
                                        new String[] {
                                            "--model", "m", "--format", "avro-registry"
                                        }));
        assertTrue(none.getMessage().contains("--schema-registry"), none.getMessage());
        IllegalArgumentException ccompat =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                JobOptions.parse(
                                        new String[] {
                                            "--model",
                                            "m",
                                            "--schema-registry",
                                            "http://registry:8080/apis/ccompat/v6"
                                        }));
        assertTrue(ccompat.getMessage().contains("/apis/registry/v2"), ccompat.getMessage());
        assertEquals(
                io.flinklora.operators.kafka.OutputFormat.JSON,
                JobOptions.parse(new String[] {"--model", "m", "--output-format", "json"})
                        .outputFormat());
        // A registry without the format: framed requests are read, outputs stay single-object Avro.
        JobOptions reading =
                JobOptions.parse(
                        new String[] {"--model", "m", "--schema-registry", "http://registry:8080"});
        assertEquals(io.flinklora.operators.kafka.OutputFormat.AVRO, reading.outputFormat());
        assertTrue(
                JobOptions.usage().contains("--format=avro|json|avro-registry"),
                JobOptions.usage());
    }

    @Test
    void listsAndTheLastOfARepeatedOptionWin() {
        JobOptions o =
                JobOptions.parse(
                        new String[] {
                            "--model",
                            "m",
                            "--request-topics",
                            "a,b",
                            "--max-batch",
                            "3",
                            "--max-batch",
                            "5",
                            "--preload=x,y",
                            "--kafka.acks",
                            "1",
                            "--kafka.acks=all"
                        });
        assertEquals(List.of("a", "b"), o.requestTopics);
        assertEquals(5, o.engine.maxBatch);
        assertEquals(List.of("x", "y"), o.engine.preload);
        assertEquals("all", o.kafkaProperties().getProperty("acks"));
    }
}
