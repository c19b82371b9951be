package io.flinklora.job.tools;

import io.flinklora.annotation.Internal;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads the token topic with a read_committed consumer (Avro TokenEvents).
 *
 * <pre>
 *   Tokens print    [--bootstrap-servers B] [--topic tokens] [--expect N] [--timeout S] [--from-end]
 *        one line per request as it completes: [r3 adapter=happy] text  &lt;length, 150 tokens&gt;
 *   Tokens progress [--bootstrap-servers B] [--topic tokens]
 *        committed tokens and finished requests so far, one line: "tokens=N finished=M requests=R"
 *   Tokens check    [--bootstrap-servers B] [--topic tokens] --requests-topic requests [--timeout S]
 *                   [--expect-tokens FILE]
 *        every request in the request topic (JSON) completes, each token index exactly once; with
 *        ignore_eos, exactly max_new_tokens tokens; with --expect-tokens (generate.sh's output for the
 *        same requests: the engine alone), each listed request's token ids equal the engine's.
 *        Prints a verdict; exit 0 on success.
 *   All modes take --kafka.&lt;property&gt; V: any Kafka consumer setting (security, as for the job).
 * </pre>
 */
@Internal
public final class Tokens {
    private static final Pattern ID = Pattern.compile("\"request_id\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern MAX_NEW = Pattern.compile("\"max_new_tokens\"\\s*:\\s*(\\d+)");
    private static final Pattern IGNORE_EOS = Pattern.compile("\"ignore_eos\"\\s*:\\s*true");

    private Tokens() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "print";
        String bootstrap = "localhost:9092";
        String topic = "tokens";
        String requestsTopic = null;
        String expectTokens = null;
        int expect = Integer.MAX_VALUE;
        long timeoutS = 0;
        boolean fromEnd = false;
        Properties kafka = new Properties();
        for (int i = 1; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--bootstrap-servers" -> bootstrap = v;
                case "--topic" -> topic = v;
                case "--requests-topic" -> requestsTopic = v;
                case "--expect-tokens" -> expectTokens = v;
                case "--expect" -> expect = Integer.parseInt(v);
                case "--timeout" -> timeoutS = Long.parseLong(v);
                case "--from-end" -> {
                    fromEnd = true;
                    i--;
                }
                default -> {
                    if (args[i].startsWith("--kafka.") && v != null) {
                        kafka.put(args[i].substring("--kafka.".length()), v);
                    } else {
                        System.err.println("unknown option " + args[i]);
                        System.exit(2);
                    }
                }
            }
            i++;
        }
        kafka.put("bootstrap.servers", bootstrap);
        switch (mode) {
            case "print" -> print(kafka, topic, expect, timeoutS, fromEnd);
            case "progress" -> progress(kafka, topic);
            case "check" ->
                    System.exit(
                            check(
                                            kafka,
                                            topic,
                                            requestsTopic,
                                            timeoutS == 0 ? 300 : timeoutS,
                                            expectTokens == null
                                                    ? Map.of()
                                                    : engineTokens(expectTokens))
                                    ? 0
                                    : 1);
            default -> {
                System.err.println("mode is print, progress or check");
                System.exit(2);
            }
        }
    }

    /**
     * A read_committed consumer assigned all partitions of {@code topic}; {@code connection}:
     * bootstrap.servers, security.
     */
    static KafkaConsumer<byte[], byte[]> consumer(
            Properties connection, String topic, boolean fromEnd) {
        Properties p = new Properties();
        p.putAll(connection);
        p.put("isolation.level", "read_committed");
        p.put("enable.auto.commit", "false");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
        List<TopicPartition> parts = new ArrayList<>();
        for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
            parts.add(new TopicPartition(topic, pi.partition()));
        }
        c.assign(parts);
        if (fromEnd) {
            c.seekToEnd(parts);
        } else {
            c.seekToBeginning(parts);
        }
        return c;
    }

    private static TokenEvent decode(ConsumerRecord<byte[], byte[]> rec) {
        try {
            return AvroCodec.fromBytes(rec.value(), TokenEvent.class);
        } catch (Exception e) {
            return null;
        }
    }

    private static void print(
            Properties connection, String topic, int expect, long timeoutS, boolean fromEnd) {
        Map<String, StringBuilder> text = new HashMap<>();
        int finished = 0;
        long deadline =
                timeoutS > 0 ? System.nanoTime() + timeoutS * 1_000_000_000L : Long.MAX_VALUE;
        try (KafkaConsumer<byte[], byte[]> c = consumer(connection, topic, fromEnd)) {
            while (finished < expect && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
                    TokenEvent t = decode(rec);
                    if (t == null) {
                        continue;
                    }
                    StringBuilder s =
                            text.computeIfAbsent(t.getRequestId(), k -> new StringBuilder());
                    s.append(t.getText());
                    if (t.getFinished()) {
                        String adapters = t.getAdapters().isEmpty() ? "base" : t.getAdapters();
                        System.out.printf(
                                "[%s adapter=%s] %s  <%s, %d tokens>%n",
                                t.getRequestId(),
                                adapters,
                                s.toString().replace("\n", "\\n"),
                                t.getFinishReason(),
                                t.getIndex() + 1);
                        System.out.flush();
                        text.remove(t.getRequestId());
                        finished++;
                    }
                }
            }
        }
    }

    /** Reads everything committed up to now. */
    private static Map<String, Progress> readAll(KafkaConsumer<byte[], byte[]> c) {
        Map<String, Progress> byRequest = new TreeMap<>();
        Map<TopicPartition, Long> end = c.endOffsets(c.assignment());
        while (true) {
            boolean done = true;
            for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
                if (c.position(e.getKey()) < e.getValue()) {
                    done = false;
                }
            }
            if (done) {
                return byRequest;
            }
            for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
                TokenEvent t = decode(rec);
                if (t != null) {
                    byRequest.computeIfAbsent(t.getRequestId(), k -> new Progress()).add(t);
                }
            }
        }
    }

    private static void progress(Properties connection, String topic) {
        try (KafkaConsumer<byte[], byte[]> c = consumer(connection, topic, false)) {
            Map<String, Progress> all = readAll(c);
            long tokens = all.values().stream().mapToLong(p -> p.events).sum();
            long finished = all.values().stream().filter(p -> p.finishedAt >= 0).count();
            System.out.printf("tokens=%d finished=%d requests=%d%n", tokens, finished, all.size());
        }
    }

    /** generate.sh's result lines: request id -> token ids. */
    static Map<String, List<Integer>> engineTokens(String file) throws java.io.IOException {
        Map<String, List<Integer>> out = new LinkedHashMap<>();
        com.fasterxml.jackson.databind.ObjectMapper json =
                new com.fasterxml.jackson.databind.ObjectMapper();
        for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of(file))) {
            if (line.isBlank()) {
                continue;
            }
            com.fasterxml.jackson.databind.JsonNode n = json.readTree(line);
            if (n.has("error")) {
                throw new IllegalArgumentException("generate.sh refused a request: " + line);
            }
            List<Integer> ids = new ArrayList<>();
            n.get("token_ids").forEach(t -> ids.add(t.asInt()));
            out.put(n.get("id").asText(), ids);
        }
        return out;
    }

    private static boolean check(
            Properties connection,
            String topic,
            String requestsTopic,
            long timeoutS,
            Map<String, List<Integer>> engine) {
        Map<String, Integer> expected =
                new LinkedHashMap<>(); // request -> exact token count, or -1
        try (KafkaConsumer<byte[], byte[]> c = consumer(connection, requestsTopic, false)) {
            Map<TopicPartition, Long> end = c.endOffsets(c.assignment());
            while (end.entrySet().stream().anyMatch(e -> c.position(e.getKey()) < e.getValue())) {
                for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
                    String json = new String(rec.value(), StandardCharsets.UTF_8);
                    Matcher id = ID.matcher(json);
                    Matcher max = MAX_NEW.matcher(json);
                    if (id.find()) {
                        expected.put(
                                id.group(1),
                                IGNORE_EOS.matcher(json).find() && max.find()
                                        ? Integer.parseInt(max.group(1))
                                        : -1);
                    }
                }
            }
        }
        Map<String, Progress> seen = new TreeMap<>();
        long deadline = System.nanoTime() + timeoutS * 1_000_000_000L;
        try (KafkaConsumer<byte[], byte[]> c = consumer(connection, topic, false)) {
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
                    TokenEvent t = decode(rec);
                    if (t != null) {
                        seen.computeIfAbsent(t.getRequestId(), k -> new Progress()).add(t);
                    }
                }
                if (expected.keySet().stream()
                        .allMatch(id -> seen.containsKey(id) && seen.get(id).finishedAt >= 0)) {
                    // Everything finished; read a little longer to catch duplicates committed late.
                    for (int i = 0; i < 5; i++) {
                        for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
                            TokenEvent t = decode(rec);
                            if (t != null) {
                                seen.computeIfAbsent(t.getRequestId(), k -> new Progress()).add(t);
                            }
                        }
                    }
                    break;
                }
            }
        }
        List<String> problems = new ArrayList<>();
        int complete = 0;
        long tokens = 0;
        for (Map.Entry<String, Integer> e : expected.entrySet()) {
            Progress p = seen.get(e.getKey());
            if (p == null || p.finishedAt < 0) {
                problems.add(
                        e.getKey() + ": not finished (" + (p == null ? 0 : p.events) + " tokens)");
                continue;
            }
            tokens += p.events;
            int n = p.finishedAt + 1;
            if (p.duplicates > 0) {
                problems.add(e.getKey() + ": " + p.duplicates + " duplicate index(es)");
            } else if (p.indices.cardinality() != n || p.indices.length() != n) {
                problems.add(
                        e.getKey()
                                + ": indices not 0.."
                                + (n - 1)
                                + " ("
                                + p.indices.cardinality()
                                + " distinct)");
            } else if (e.getValue() >= 0 && n != e.getValue()) {
                problems.add(e.getKey() + ": " + n + " tokens, expected " + e.getValue());
            } else if (engine.containsKey(e.getKey())
                    && !engine.get(e.getKey()).equals(new ArrayList<>(p.ids.values()))) {
                problems.add(
                        e.getKey()
                                + ": token ids differ from the engine alone's "
                                + firstDifference(
                                        engine.get(e.getKey()), new ArrayList<>(p.ids.values())));
            } else {
                complete++;
            }
        }
        for (String id : seen.keySet()) {
            if (!expected.containsKey(id)) {
                problems.add(id + ": tokens for a request that was never sent");
            }
        }
        long compared = expected.keySet().stream().filter(engine::containsKey).count();
        if (!engine.isEmpty() && compared != engine.size()) {
            problems.add(
                    (engine.size() - compared)
                            + " request(s) of the expected-tokens file were never sent");
        }
        if (problems.isEmpty()) {
            System.out.printf(
                    "check: OK %d/%d requests, %d tokens, each index exactly once%s%n",
                    complete,
                    expected.size(),
                    tokens,
                    engine.isEmpty() ? "" : "; token ids equal the engine alone's for " + compared);
            return !expected.isEmpty();
        }
        System.out.printf(
                "check: FAIL %d/%d requests complete, %d problem(s): %s%n",
                complete,
                expected.size(),
                problems.size(),
                String.join("; ", problems.subList(0, Math.min(10, problems.size()))));
        return false;
    }

    private static String firstDifference(List<Integer> want, List<Integer> got) {
        int i = 0;
        while (i < Math.min(want.size(), got.size()) && want.get(i).equals(got.get(i))) {
            i++;
        }
        return "(first at index "
                + i
                + ": "
                + (i < want.size() ? want.get(i) : "end")
                + " vs "
                + (i < got.size() ? got.get(i) : "end")
                + ")";
    }

    /** One request's committed token events. */
    static final class Progress {
        final BitSet indices = new BitSet();
        final TreeMap<Integer, Integer> ids = new TreeMap<>();
        long events;
        int duplicates;
        int finishedAt = -1;

        void add(TokenEvent t) {
            events++;
            if (indices.get(t.getIndex())) {
                duplicates++;
            }
            indices.set(t.getIndex());
            ids.put(t.getIndex(), t.getTokenId());
            if (t.getFinished()) {
                finishedAt = finishedAt < 0 ? t.getIndex() : finishedAt;
            }
        }
    }
}
