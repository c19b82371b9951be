package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionState;

/**
 * The Kafka connector's "producer is already fenced ... most likely signals data loss" ERRORs after
 * a restore, checked against the broker: each names a transaction that the previous run had already
 * committed (Kafka's transactions V2 bumps the producer epoch at every commit, so committing the
 * restored committable again with its old epoch is fenced), not one that was lost.
 */
final class FencedRecommits {
    private static final Pattern FENCED =
            Pattern.compile(
                    "Unable to commit transaction \\(.*?producerId=(\\d+), epoch=(\\d+),"
                            + " transactionalId='([^']+)'.*?because its producer is already fenced");

    private FencedRecommits() {}

    /**
     * Asserts every fenced recommit in the logs was of a committed transaction; returns how many
     * there were.
     */
    static int assertAllWereAlreadyCommitted(LogCapture logs, String bootstrap) throws Exception {
        Map<String, long[]> fenced = new LinkedHashMap<>();
        Matcher m = FENCED.matcher(logs.text());
        while (m.find()) {
            fenced.put(
                    m.group(3),
                    new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))});
        }
        if (fenced.isEmpty()) {
            return 0;
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(p)) {
            Map<String, TransactionDescription> found =
                    admin.describeTransactions(fenced.keySet()).all().get();
            for (var e : fenced.entrySet()) {
                TransactionDescription d = found.get(e.getKey());
                assertEquals(
                        TransactionState.COMPLETE_COMMIT,
                        d.state(),
                        e.getKey() + " was committed: " + d);
                assertEquals(e.getValue()[0], d.producerId(), e.getKey() + " same producer: " + d);
                assertEquals(
                        e.getValue()[1] + 1,
                        d.producerEpoch(),
                        e.getKey() + " epoch bumped once, by its commit: " + d);
            }
        }
        return fenced.size();
    }
}
