package io.flinklora.job.tools;

import io.flinklora.annotation.Internal;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Sends JSON generation requests to the request topic ({@code scripts/produce.sh}), keyed by
 * request_id.
 *
 * <pre>
 *   Produce [--bootstrap-servers B] [--topic T]                      JSON lines from stdin
 *   Produce ... --prompt TEXT [--adapter a[+b]] [--id ID] [--max-new-tokens N]   one request
 *   Produce ... --demo N --adapters a,b,c [--min-tokens 150 --max-tokens 250] [--id-prefix r]
 *                                              N requests over the adapters and the base model, ids r1..rN
 *   Produce ... --write FILE                   also writes the requests sent, one JSON line each (for generate.sh)
 *   Produce ... --kafka.&lt;property&gt; V                            any Kafka producer setting (security, as for the job)
 * </pre>
 */
@Internal
public final class Produce {
    private static final Pattern ID =
            Pattern.compile("\"request_id\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
    private static final String[] PROMPTS = {
        "Once upon a time",
        "Tom had a big red ball.",
        "The sun was hot and the dog was",
        "Lily and Ben went to the park to",
        "One day, a little bird",
        "Sam was sad because",
        "The cat sat on the",
    };

    private Produce() {}

    public static void main(String[] args) throws Exception {
        String bootstrap = "localhost:9092";
        String topic = "requests";
        String prompt = null;
        String adapter = "";
        String id = null;
        int maxNew = 64;
        int demo = 0;
        String[] adapters = {};
        int minTokens = 150;
        int maxTokens = 250;
        String idPrefix = "r";
        String write = null;
        Properties kafka = new Properties();
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--bootstrap-servers" -> bootstrap = v;
                case "--topic" -> topic = v;
                case "--prompt" -> prompt = v;
                case "--adapter" -> adapter = v;
                case "--id" -> id = v;
                case "--max-new-tokens" -> maxNew = Integer.parseInt(v);
                case "--demo" -> demo = Integer.parseInt(v);
                case "--adapters" -> adapters = v.isEmpty() ? new String[0] : v.split(",");
                case "--min-tokens" -> minTokens = Integer.parseInt(v);
                case "--max-tokens" -> maxTokens = Integer.parseInt(v);
                case "--id-prefix" -> idPrefix = v;
                case "--write" -> write = v;
                default -> {
                    if (args[i].startsWith("--kafka.") && v != null) {
                        kafka.put(args[i].substring("--kafka.".length()), v);
                    } else {
                        System.err.println(
                                "unknown option "
                                        + args[i]
                                        + "\nusage: produce.sh [--bootstrap-servers B] [--topic T] "
                                        + "[--prompt TEXT [--adapter NAME[+NAME]] [--id ID] [--max-new-tokens N]] [--demo N --adapters a,b [--id-prefix P]]"
                                        + " [--write FILE]"
                                        + " [--kafka.<property> V]\n(without --prompt or --demo: one JSON request per stdin line)");
                        System.exit(2);
                    }
                }
            }
            i++;
        }
        List<String> lines = new ArrayList<>();
        if (prompt != null) {
            lines.add(
                    request(
                            id != null ? id : "q" + System.currentTimeMillis(),
                            prompt,
                            adapter,
                            maxNew,
                            false));
        } else if (demo > 0) {
            for (int r = 0; r < demo; r++) {
                String a =
                        r % (adapters.length + 1) == adapters.length
                                ? ""
                                : adapters[r % (adapters.length + 1)];
                int tokens =
                        minTokens
                                + (int)
                                        ((long) (maxTokens - minTokens)
                                                * r
                                                / Math.max(1, demo - 1));
                lines.add(
                        request(idPrefix + (r + 1), PROMPTS[r % PROMPTS.length], a, tokens, true));
            }
        }
        Properties p = new Properties();
        p.putAll(kafka);
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("acks", "all");
        int sent = 0;
        List<String> written = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            if (lines.isEmpty() && prompt == null && demo == 0) {
                BufferedReader in =
                        new BufferedReader(
                                new InputStreamReader(System.in, StandardCharsets.UTF_8));
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.isBlank()) {
                        send(producer, topic, line.strip());
                        written.add(line.strip());
                        sent++;
                    }
                }
            } else {
                for (String line : lines) {
                    send(producer, topic, line);
                    written.add(line);
                    sent++;
                }
            }
            producer.flush();
        }
        if (write != null) {
            java.nio.file.Files.write(
                    java.nio.file.Path.of(write), written, StandardCharsets.UTF_8);
        }
        System.err.printf("sent %d request(s) to %s on %s%n", sent, topic, bootstrap);
    }

    private static void send(KafkaProducer<byte[], byte[]> producer, String topic, String json)
            throws Exception {
        Matcher m = ID.matcher(json);
        byte[] key = m.find() ? m.group(1).getBytes(StandardCharsets.UTF_8) : null;
        producer.send(new ProducerRecord<>(topic, key, json.getBytes(StandardCharsets.UTF_8)))
                .get();
    }

    /**
     * One JSON request; {@code adapter} is empty (base model), a name, or names joined by '+'
     * (equal weights).
     */
    static String request(String id, String prompt, String adapter, int maxNew, boolean ignoreEos) {
        StringBuilder a = new StringBuilder();
        String[] names = adapter.isEmpty() ? new String[0] : adapter.split("\\+");
        for (String n : names) {
            a.append(a.length() == 0 ? "" : ", ")
                    .append("{\"name\": \"")
                    .append(escape(n))
                    .append("\", \"weight\": ")
                    .append(1.0 / names.length)
                    .append('}');
        }
        return "{\"request_id\": \""
                + escape(id)
                + "\", \"prompt\": \""
                + escape(prompt)
                + "\", \"max_new_tokens\": "
                + maxNew
                + (ignoreEos ? ", \"ignore_eos\": true" : "")
                + ", \"adapters\": ["
                + a
                + "]}";
    }

    private static String escape(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }
}
