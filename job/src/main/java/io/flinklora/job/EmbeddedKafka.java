package io.flinklora.job;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/**
 * A real single-node Kafka broker (KRaft, broker and controller combined) inside this JVM, for the
 * embedded demo and integration tests. The cluster scripts run a separate broker process instead.
 */
public final class EmbeddedKafka implements AutoCloseable {
    private final KafkaClusterTestKit cluster;

    private EmbeddedKafka(KafkaClusterTestKit cluster) {
        this.cluster = cluster;
    }

    /** Formats and starts a broker; returns once it accepts clients. */
    public static EmbeddedKafka start() throws Exception {
        return start(Map.of());
    }

    /** Starts a broker with extra broker settings (listeners and security for authenticated tests). */
    public static EmbeddedKafka start(Map<String, String> brokerConfig) throws Exception {
        KafkaClusterTestKit.Builder b = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder()
                .setCombined(true).setNumBrokerNodes(1).setNumControllerNodes(1).build());
        // A single broker: internal topics cannot be replicated.
        b.setConfigProp("offsets.topic.replication.factor", "1");
        b.setConfigProp("transaction.state.log.replication.factor", "1");
        b.setConfigProp("transaction.state.log.min.isr", "1");
        b.setConfigProp("group.initial.rebalance.delay.ms", "0");
        brokerConfig.forEach(b::setConfigProp);
        KafkaClusterTestKit cluster = b.build();
        try {
            cluster.format();
            cluster.startup();
            cluster.waitForReadyBrokers();
        } catch (Exception e) {
            cluster.close();
            throw e;
        }
        return new EmbeddedKafka(cluster);
    }

    public String bootstrapServers() {
        return cluster.bootstrapServers();
    }

    /** Creates topics (single replica) if they do not exist yet. */
    public void createTopics(List<String> topics, int partitions) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        try (Admin admin = Admin.create(p)) {
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
