package io.flinklora.job;

import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/**
 * A real single-node Kafka broker (KRaft, broker and controller combined) inside this JVM, for the
 * embedded demo and integration tests. The cluster scripts run a separate broker process instead.
 */
@Internal
public final class EmbeddedKafka implements AutoCloseable {
    private static final String JAAS_PROPERTY = "java.security.auth.login.config";

    /** The SASL mechanisms an authenticated broker accepts from clients. */
    public static final List<String> SASL_MECHANISMS = List.of("PLAIN", "SCRAM-SHA-512");

    private final KafkaClusterTestKit cluster;
    private final String user;
    private final String password;

    private EmbeddedKafka(KafkaClusterTestKit cluster, String user, String password) {
        this.cluster = cluster;
        this.user = user;
        this.password = password;
    }

    /** Formats and starts a broker without authentication; returns once it accepts clients. */
    public static EmbeddedKafka start() throws Exception {
        return start(Map.of());
    }

    /** Starts a broker without authentication, with extra broker settings. */
    public static EmbeddedKafka start(Map<String, String> brokerConfig) throws Exception {
        return start(new TestKitNodes.Builder(), brokerConfig, null, null);
    }

    /**
     * Starts a broker that requires SASL authentication on every listener (clients, inter-broker
     * and controller; SASL_PLAINTEXT) and knows one client user, by SASL/PLAIN or SCRAM-SHA-512.
     * Clients without these credentials cannot produce, consume or look up metadata; {@link
     * #clientProperties()} has what a client needs.
     */
    public static EmbeddedKafka startSasl(String user, String password) throws Exception {
        if (!user.matches("[A-Za-z0-9_.-]+")
                || user.equals("broker")
                || password.contains("\"")
                || password.contains("\\")) {
            throw new IllegalArgumentException(
                    "user must be [A-Za-z0-9_.-]+ other than 'broker', and the password free of quotes and backslashes");
        }
        // The broker authenticates to itself (inter-broker and controller links) as its own user,
        // by PLAIN.
        String brokerPassword = UUID.randomUUID().toString();
        String plain =
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\""
                        + brokerPassword
                        + "\" user_broker=\""
                        + brokerPassword
                        + "\" user_"
                        + user
                        + "=\""
                        + password
                        + "\";";
        Map<String, String> broker = new HashMap<>();
        broker.put("sasl.enabled.mechanisms", String.join(",", SASL_MECHANISMS));
        broker.put("sasl.mechanism.inter.broker.protocol", "PLAIN");
        broker.put("sasl.mechanism.controller.protocol", "PLAIN");
        // Per-listener JAAS configuration instead of the JVM-wide file the test kit would use.
        broker.put("listener.name.external.plain.sasl.jaas.config", plain);
        broker.put("listener.name.controller.plain.sasl.jaas.config", plain);
        // SCRAM credentials live in the cluster metadata; the user's is added once the broker runs.
        broker.put(
                "listener.name.external.scram-sha-512.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;");
        // Authentication only: the test kit would otherwise install an ACL authorizer for its own
        // admin user.
        broker.put("authorizer.class.name", "");
        TestKitNodes.Builder nodes =
                new TestKitNodes.Builder()
                        .setBrokerSecurityProtocol(SecurityProtocol.SASL_PLAINTEXT)
                        .setControllerSecurityProtocol(SecurityProtocol.SASL_PLAINTEXT);
        EmbeddedKafka kafka = start(nodes, broker, user, password);
        try {
            kafka.addScramUser();
        } catch (Exception e) {
            kafka.close();
            throw e;
        }
        return kafka;
    }

    /** Registers the user's SCRAM-SHA-512 credential and waits until the broker accepts it. */
    private void addScramUser() throws Exception {
        try (Admin admin = Admin.create(clientProperties())) {
            admin.alterUserScramCredentials(
                            List.of(
                                    new UserScramCredentialUpsertion(
                                            user,
                                            new ScramCredentialInfo(
                                                    ScramMechanism.SCRAM_SHA_512, 4096),
                                            password)))
                    .all()
                    .get();
        }
        long deadline = System.nanoTime() + 30_000_000_000L;
        try (Admin scram = Admin.create(clientProperties("SCRAM-SHA-512"))) {
            while (true) {
                try {
                    scram.listTopics().names().get();
                    return;
                } catch (ExecutionException e) {
                    // The broker applies the credential from the metadata log a moment after the
                    // controller.
                    if (!(e.getCause() instanceof SaslAuthenticationException)
                            || System.nanoTime() > deadline) {
                        throw e;
                    }
                    Thread.sleep(100);
                }
            }
        }
    }

    /** A client's {@code sasl.jaas.config} value for SASL/PLAIN. */
    public static String plainJaas(String user, String password) {
        return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
                + user
                + "\" password=\""
                + password
                + "\";";
    }

    /** A client's {@code sasl.jaas.config} value for SCRAM. */
    public static String scramJaas(String user, String password) {
        return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user
                + "\" password=\""
                + password
                + "\";";
    }

    private static EmbeddedKafka start(
            TestKitNodes.Builder nodes,
            Map<String, String> brokerConfig,
            String user,
            String password)
            throws Exception {
        KafkaClusterTestKit.Builder b =
                new KafkaClusterTestKit.Builder(
                        nodes.setCombined(true)
                                .setNumBrokerNodes(1)
                                .setNumControllerNodes(1)
                                .build());
        // A single broker: internal topics cannot be replicated.
        b.setConfigProp("offsets.topic.replication.factor", "1");
        b.setConfigProp("transaction.state.log.replication.factor", "1");
        b.setConfigProp("transaction.state.log.min.isr", "1");
        b.setConfigProp("group.initial.rebalance.delay.ms", "0");
        brokerConfig.forEach(b::setConfigProp);
        // With SASL the test kit points the JVM-wide JAAS property at a file of its own; the broker
        // uses the per-listener settings of startSasl, so the property is put back for the rest of
        // the JVM.
        String jaasBefore = System.getProperty(JAAS_PROPERTY);
        try {
            KafkaClusterTestKit cluster = b.build();
            try {
                cluster.format();
                cluster.startup();
                cluster.waitForReadyBrokers();
            } catch (Exception e) {
                cluster.close();
                throw e;
            }
            return new EmbeddedKafka(cluster, user, password);
        } finally {
            restoreJaasProperty(jaasBefore);
        }
    }

    private static void restoreJaasProperty(String before) {
        if (Objects.equals(before, System.getProperty(JAAS_PROPERTY))) {
            return;
        }
        if (before == null) {
            System.clearProperty(JAAS_PROPERTY);
        } else {
            System.setProperty(JAAS_PROPERTY, before);
        }
        javax.security.auth.login.Configuration.setConfiguration(null);
    }

    public String bootstrapServers() {
        return cluster.bootstrapServers();
    }

    /**
     * What a client needs to connect: {@code bootstrap.servers} and, for a broker started with
     * {@link #startSasl}, {@code security.protocol}, {@code sasl.mechanism} (PLAIN) and {@code
     * sasl.jaas.config}.
     */
    public Properties clientProperties() {
        return clientProperties("PLAIN");
    }

    /**
     * As {@link #clientProperties()}, authenticating with {@code mechanism}, one of {@link
     * #SASL_MECHANISMS}.
     */
    public Properties clientProperties(String mechanism) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers());
        if (user != null) {
            if (!SASL_MECHANISMS.contains(mechanism)) {
                throw new IllegalArgumentException(
                        "mechanism must be one of " + SASL_MECHANISMS + ", got " + mechanism);
            }
            p.put("security.protocol", "SASL_PLAINTEXT");
            p.put("sasl.mechanism", mechanism);
            p.put(
                    "sasl.jaas.config",
                    mechanism.equals("PLAIN")
                            ? plainJaas(user, password)
                            : scramJaas(user, password));
        }
        return p;
    }

    /** Creates topics (single replica) if they do not exist yet. */
    public void createTopics(List<String> topics, int partitions) throws Exception {
        try (Admin admin = Admin.create(clientProperties())) {
            List<NewTopic> fresh = new ArrayList<>();
            var existing = admin.listTopics().names().get();
            for (String t : topics) {
                if (!existing.contains(t)) {
                    fresh.add(new NewTopic(t, partitions, (short) 1));
                }
            }
            admin.createTopics(fresh).all().get();
        }
    }

    @Override
    public void close() throws Exception {
        cluster.close();
    }
}
