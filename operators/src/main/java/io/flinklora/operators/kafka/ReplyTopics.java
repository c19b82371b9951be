package io.flinklora.operators.kafka;

import io.flinklora.annotation.PublicEvolving;
import java.io.Serializable;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Which reply topics requests may name: the job's allow-list pattern, and the topic must exist. A
 * transactional sink writing to a missing topic (brokers here do not auto-create) blocks and then
 * fails the job on every restart, so one request naming a topic that does not exist could stop the
 * job; it is refused here instead. Existence is cached for a minute.
 */
@PublicEvolving
public final class ReplyTopics implements Serializable, AutoCloseable {
    private static final long serialVersionUID = 1L;

    /** The request's reply_topic does not match the job's pattern (or the job takes none). */
    public static final String NOT_ALLOWED = "REPLY_TOPIC_NOT_ALLOWED";

    /** The reply topic matches the pattern but does not exist on the brokers. */
    public static final String NOT_FOUND = "REPLY_TOPIC_NOT_FOUND";

    private static final long CACHE_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final String pattern;
    private final Properties kafka;
    private transient Pattern compiled;
    private transient Admin admin;
    private transient Map<String, Long> existsUntil;

    /**
     * {@code pattern}: a regex the whole topic name must match, null for none; {@code kafka}:
     * bootstrap and security.
     */
    public ReplyTopics(String pattern, Properties kafka) {
        this.pattern = pattern;
        this.kafka = new Properties();
        this.kafka.putAll(kafka);
        if (pattern != null) {
            Pattern.compile(pattern); // fails when the job is built, not at the first record
        }
    }

    /** Null when records may go to {@code topic}; otherwise {code, message}. */
    public String[] refusal(String topic) {
        if (pattern == null) {
            return new String[] {
                NOT_ALLOWED,
                "reply_topic '"
                        + topic
                        + "' is not allowed: this job takes no reply topics"
                        + " (--reply-topic-pattern)"
            };
        }
        if (compiled == null) {
            compiled = Pattern.compile(pattern);
            existsUntil = new ConcurrentHashMap<>();
        }
        if (!compiled.matcher(topic).matches()) {
            return new String[] {
                NOT_ALLOWED,
                "reply_topic '"
                        + topic
                        + "' is not allowed by the job's reply-topic pattern "
                        + pattern
            };
        }
        Long until = existsUntil.get(topic);
        if (until != null && until - System.nanoTime() > 0) {
            return null;
        }
        if (!exists(topic)) {
            return new String[] {
                NOT_FOUND,
                "reply_topic '"
                        + topic
                        + "' does not exist; create it before sending requests"
                        + " that name it"
            };
        }
        existsUntil.put(topic, System.nanoTime() + CACHE_NANOS);
        return null;
    }

    private boolean exists(String topic) {
        if (admin == null) {
            admin = Admin.create(kafka);
        }
        try {
            admin.describeTopics(Set.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return false;
            }
            // The brokers cannot say (unreachable, not authorized to describe): let the request
            // through; the
            // sinks meet the same brokers and Flink's recovery covers an outage.
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return true;
        }
    }

    @Override
    public void close() {
        if (admin != null) {
            admin.close();
            admin = null;
        }
    }
}
