package io.flinklora.job;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/**
 * A real single-node Kafka broker (KRaft, broker and controller combined) inside this JVM, for the
 * embedded demo and integration tests. The cluster scripts run a separate broker process instead.
 */
public final class EmbeddedKafka implements AutoCloseable {
    private static final String JAAS_PROPERTY = "java.security.auth.login.config";

    private final KafkaClusterTestKit cluster;
    private final Map<String, String> clientSecurity;

    private EmbeddedKafka(KafkaClusterTestKit cluster, Map<String, String> clientSecurity) {
        this.cluster = cluster;
        this.clientSecurity = clientSecurity;
    }

    /** Formats and starts a broker without authentication; returns once it accepts clients. */
    public static EmbeddedKafka start() throws Exception {
        return start(Map.of());
    }

    /** Starts a broker without authentication, with extra broker settings. */
    public static EmbeddedKafka start(Map<String, String> brokerConfig) throws Exception {
        return start(new TestKitNodes.Builder(), brokerConfig, Map.of());
    }

    /**
     * Starts a broker that requires SASL/PLAIN authentication on every listener (clients, inter-broker
     * and controller; SASL_PLAINTEXT) and knows one client user. Clients without these credentials
     * cannot produce, consume or look up metadata. {@link #clientProperties()} has what a client needs.
     */
    public static EmbeddedKafka startSaslPlain(String user, String password) throws Exception {
        if (!user.matches("[A-Za-z0-9_.-]+") || password.contains("\"") || password.contains("\\")) {
            throw new IllegalArgumentException("user must be [A-Za-z0-9_.-]+ and the password free of quotes and backslashes");
        }
        // The broker authenticates to itself (inter-broker and controller links) as its own user.
        String brokerPassword = UUID.randomUUID().toString();
        String jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\""
                + brokerPassword + "\" user_broker=\"" + brokerPassword + "\" user_" + user + "=\"" + password + "\";";
        Map<String, String> broker = new HashMap<>();
        broker.put("sasl.enabled.mechanisms", "PLAIN");
        broker.put("sasl.mechanism.inter.broker.protocol", "PLAIN");
        broker.put("sasl.mechanism.controller.protocol", "PLAIN");
        // Per-listener JAAS configuration instead of the JVM-wide file the test kit would use.
        broker.put("listener.name.external.plain.sasl.jaas.config", jaas);
        broker.put("listener.name.controller.plain.sasl.jaas.config", jaas);
        // Authentication only: the test kit would otherwise install an ACL authorizer for its own admin user.
        broker.put("authorizer.class.name", "");
        TestKitNodes.Builder nodes = new TestKitNodes.Builder()
                .setBrokerSecurityProtocol(SecurityProtocol.SASL_PLAINTEXT)
                .setControllerSecurityProtocol(SecurityProtocol.SASL_PLAINTEXT);
        return start(nodes, broker, Map.of(
                "security.protocol", "SASL_PLAINTEXT",
                "sasl.mechanism", "PLAIN",
                "sasl.jaas.config", plainJaas(user, password)));
    }

    /** A client's {@code sasl.jaas.config} value for SASL/PLAIN. */
    public static String plainJaas(String user, String password) {
        return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"" + user
                + "\" password=\"" + password + "\";";
    }

    private static EmbeddedKafka start(TestKitNodes.Builder nodes, Map<String, String> brokerConfig,
            Map<String, String> clientSecurity) throws Exception {
        KafkaClusterTestKit.Builder b = new KafkaClusterTestKit.Builder(
                nodes.setCombined(true).setNumBrokerNodes(1).setNumControllerNodes(1).build());
        // A single broker: internal topics cannot be replicated.
        b.setConfigProp("offsets.topic.replication.factor", "1");
        b.setConfigProp("transaction.state.log.replication.factor", "1");
        b.setConfigProp("transaction.state.log.min.isr", "1");
        b.setConfigProp("group.initial.rebalance.delay.ms", "0");
        brokerConfig.forEach(b::setConfigProp);
        // With SASL the test kit points the JVM-wide JAAS property at a file of its own; the broker
        // uses the per-listener settings above, so the property is put back for the rest of the JVM.
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
            return new EmbeddedKafka(cluster, clientSecurity);
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
     * What a client needs to connect: {@code bootstrap.servers} and, for an authenticated broker,
     * {@code security.protocol}, {@code sasl.mechanism} and {@code sasl.jaas.config}.
     */
    public Properties clientProperties() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers());
        p.putAll(clientSecurity);
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
