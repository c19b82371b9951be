package io.flinklora.job;

import io.flinklora.operators.GenerationSettings;
import io.flinklora.operators.kafka.OutputFormat;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;

/**
 * Options of the streaming job, from the command line ({@code --name value}) with defaults. Options
 * prefixed {@code --kafka.} are passed to the Kafka clients (security settings, for example).
 */
public final class JobOptions implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Delivery to the output topics. */
    public enum Delivery {
        /** Transactional sink, committed at checkpoints: read_committed consumers see each token once. */
        EXACTLY_ONCE,
        /** Tokens visible at once; after a failure some are sent again, identified by (request_id, index). */
        AT_LEAST_ONCE
    }

    static final String USAGE = String.join("\n",
            "options (--name value or --name=value):",
            "  --bootstrap-servers HOST:PORT   Kafka brokers (default localhost:9092)",
            "  --request-topics a,b            topics with requests (default requests)",
            "  --token-topic T                 token events (default tokens)",
            "  --completion-topic T            completions (default completions)",
            "  --error-topic T                 error records (default errors)",
            "  --group-id G                    consumer group (default flink-lora)",
            "  --starting-offsets committed|earliest|latest   where a fresh job starts (default committed, else earliest)",
            "  --model DIR                     Hugging Face model folder (required)",
            "  --adapters DIR                  adapter root (sub-folders served by name)",
            "  --device auto|cpu|gpu           auto: the slot's GPU when Flink's GPU resource gives one (default auto)",
            "  --dtype float32|float16|bfloat16   compute dtype (default float32 on cpu, float16 on gpu; bfloat16",
            "                                  needs the JNI of scripts/build-jni.sh on the task managers)",
            "  --max-batch N                   sequences per forward pass per subtask (default 32)",
            "  --max-tokens-per-step N         tokens per forward pass (default 512)",
            "  --max-queued N                  accepted requests waiting per subtask before back pressure (default 64)",
            "  --max-seq-len N                 prompt + generated tokens at most (default: the model's context)",
            "  --kv-cache-mib N                KV cache budget per subtask in MiB (default: max batch sequences at max seq len)",
            "  --kv-block-size N               positions per KV block (default 16)",
            "  --prefix-caching on|off         share KV blocks of identical prompt prefixes with the same adapters (default on)",
            "  --adapters-on-device N          resident adapters per subtask (default 16)",
            "  --adapters-in-memory N          adapters in host memory per subtask (default 64)",
            "  --preload a,b                   adapters to load at start",
            "  --router FILE                   router file (models/adapters/router.json): requests with \"route\": \"auto\"",
            "                                  get the adapters of the task whose example prompts are nearest to theirs",
            "                                  (default: none; such requests are INVALID_REQUEST)",
            "  --lora-strategy pooled|segmented|gathered|loop (default pooled)",
            "  --max-request-bytes N           request record size at most (default 1048576)",
            "  --reply-topic-pattern REGEX     topics a request may name as reply_topic (whole-name match, e.g.",
            "                                  'replies\\..*'); others get REPLY_TOPIC_NOT_ALLOWED (default: none allowed)",
            "  --max-prompt-tokens N, --max-new-tokens N, --max-stop-strings N, --max-adapters N   per-request limits",
            "  --delivery exactly-once|at-least-once (default exactly-once)",
            "  --output-format avro|json       encoding of output records (default avro)",
            "  --checkpoint-interval MS        (default 2000)",
            "  --parallelism N                 generation subtasks, one per GPU (default: the environment's)",
            "  --transactional-id-prefix P     (default flink-lora)",
            "  --fail-once-after-tokens N      failure drill: the first attempt fails N tokens after a completed checkpoint",
            "                                  that holds in-flight sequences (default off)",
            "  --kafka.<property> V            passed to every Kafka client of the job (source, sinks, their admin clients),",
            "                                  e.g. --kafka.security.protocol SASL_SSL --kafka.sasl.mechanism SCRAM-SHA-512;",
            "                                  keep secrets off the command line with Kafka's config providers:",
            "                                  --kafka.config.providers env",
            "                                  --kafka.config.providers.env.class org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            "                                  --kafka.sasl.jaas.config '... password=\"${env:KAFKA_PASSWORD}\";'",
            "                                  (the variable must be set for the JobManager and every TaskManager)",
            "                                  values of secret settings (passwords, sasl.jaas.config, keys) are never printed");

    /** Kafka settings of the password type in any client's definition: their values are never printed. */
    private static final Set<String> KAFKA_PASSWORDS = kafkaPasswords();
    /** Names that look secret, for settings no client defines (custom login modules, provider parameters). */
    private static final Pattern SECRET_NAME = Pattern.compile("(?i).*(password|secret|jaas|credential|token|private|\\.key$).*");

    String bootstrapServers = "localhost:9092";
    List<String> requestTopics = List.of("requests");
    String tokenTopic = "tokens";
    String completionTopic = "completions";
    String errorTopic = "errors";
    String groupId = "flink-lora";
    String startingOffsets = "committed";
    String model;
    String adapters;
    String device = "auto";
    String dtype;
    int maxBatch = 32;
    int maxTokensPerStep = 512;
    int maxQueued = 64;
    int maxSeqLen = Integer.MAX_VALUE;
    int kvCacheMib = -1;
    int kvBlockSize = 16;
    boolean prefixCaching = true;
    int adaptersOnDevice = 16;
    int adaptersInMemory = 64;
    List<String> preload = List.of();
    String router;
    String loraStrategy = "pooled";
    int maxRequestBytes = 1 << 20;
    String replyTopicPattern;
    int maxPromptTokens = 1 << 16;
    int maxNewTokens = 1 << 16;
    int maxStopStrings = 16;
    int maxAdapters = 8;
    Delivery delivery = Delivery.EXACTLY_ONCE;
    OutputFormat outputFormat = OutputFormat.AVRO;
    long checkpointInterval = 2000;
    int parallelism = -1;
    String transactionalIdPrefix = "flink-lora";
    long failOnceAfterTokens = -1;
    Map<String, String> kafka = new LinkedHashMap<>();

    /**
     * Parses {@code --name value} and {@code --name=value}; throws IllegalArgumentException with a message
     * for bad input. Messages never repeat a value that may be a secret.
     */
    public static JobOptions parse(String[] args) {
        JobOptions o = new JobOptions();
        String previous = null;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--")) {
                // A stray word after a secret setting is most likely a piece of it (an unquoted value).
                String shown = previous != null && isSecretOption(previous) ? "(not shown)" : "'" + arg + "'";
                throw new IllegalArgumentException("unexpected argument " + shown
                        + (previous == null ? "" : " after --" + previous + " and its value (quote values that contain spaces)")
                        + "\n" + USAGE);
            }
            int eq = arg.indexOf('=');
            String name = eq < 0 ? arg.substring(2) : arg.substring(2, eq);
            String value;
            if (eq >= 0) {
                value = arg.substring(eq + 1);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("option --" + name + " needs a value");
            }
            o.set(name, value);
            previous = name;
        }
        if (o.model == null) {
            throw new IllegalArgumentException("--model is required\n" + USAGE);
        }
        return o;
    }

    /** Sets one option by name (without the leading dashes). */
    public JobOptions set(String name, String v) {
        if (name.startsWith("kafka.")) {
            kafka.put(name.substring(6), v);
            return this;
        }
        switch (name) {
            case "bootstrap-servers" -> bootstrapServers = v;
            case "request-topics" -> requestTopics = List.of(v.split(","));
            case "token-topic" -> tokenTopic = v;
            case "completion-topic" -> completionTopic = v;
            case "error-topic" -> errorTopic = v;
            case "group-id" -> groupId = v;
            case "starting-offsets" -> startingOffsets = oneOf(name, v, "committed", "earliest", "latest");
            case "model" -> model = v;
            case "adapters" -> adapters = v;
            case "device" -> device = oneOf(name, v, "auto", "cpu", "gpu");
            case "dtype" -> dtype = oneOf(name, v, "float32", "float16", "bfloat16");
            case "max-batch" -> maxBatch = positive(name, v);
            case "max-tokens-per-step" -> maxTokensPerStep = positive(name, v);
            case "max-queued" -> maxQueued = positive(name, v);
            case "max-seq-len" -> maxSeqLen = positive(name, v);
            case "kv-cache-mib" -> kvCacheMib = positive(name, v);
            case "kv-block-size" -> kvBlockSize = positive(name, v);
            case "prefix-caching" -> prefixCaching = oneOf(name, v, "on", "off").equals("on");
            case "adapters-on-device" -> adaptersOnDevice = positive(name, v);
            case "adapters-in-memory" -> adaptersInMemory = positive(name, v);
            case "preload" -> preload = v.isEmpty() ? List.of() : List.of(v.split(","));
            case "router" -> router = routerFile(v);
            case "lora-strategy" -> loraStrategy = oneOf(name, v, "pooled", "segmented", "gathered", "loop");
            case "max-request-bytes" -> maxRequestBytes = positive(name, v);
            case "reply-topic-pattern" -> replyTopicPattern = regex(name, v);
            case "max-prompt-tokens" -> maxPromptTokens = positive(name, v);
            case "max-new-tokens" -> maxNewTokens = positive(name, v);
            case "max-stop-strings" -> maxStopStrings = positive(name, v);
            case "max-adapters" -> maxAdapters = positive(name, v);
            case "delivery" -> delivery = Delivery.valueOf(
                    oneOf(name, v, "exactly-once", "at-least-once").replace('-', '_').toUpperCase(Locale.ROOT));
            case "output-format" -> outputFormat = OutputFormat.valueOf(oneOf(name, v, "avro", "json").toUpperCase(Locale.ROOT));
            case "checkpoint-interval" -> checkpointInterval = positive(name, v);
            case "parallelism" -> parallelism = positive(name, v);
            case "transactional-id-prefix" -> transactionalIdPrefix = v;
            case "fail-once-after-tokens" -> failOnceAfterTokens = Long.parseLong(v);
            default -> throw new IllegalArgumentException("unknown option --" + name + "\n" + USAGE);
        }
        return this;
    }

    private static String oneOf(String name, String v, String... allowed) {
        for (String a : allowed) {
            if (a.equals(v)) {
                return v;
            }
        }
        throw new IllegalArgumentException("--" + name + " must be one of " + String.join(", ", allowed) + ", got '" + v + "'");
    }

    /** The value of option {@code --name} as a positive integer, or a message naming the option. */
    static String regex(String name, String v) {
        try {
            java.util.regex.Pattern.compile(v);
            return v;
        } catch (java.util.regex.PatternSyntaxException e) {
            throw new IllegalArgumentException("--" + name + " is not a regular expression: " + e.getDescription());
        }
    }

    public static int positive(String name, String v) {
        try {
            int n = Integer.parseInt(v);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // fall through to the message below
        }
        throw new IllegalArgumentException("--" + name + " needs a positive integer, got '" + v + "'");
    }

    /**
     * A router file path. Each subtask reads it at start (like the model, it must be readable there); one
     * readable here is checked now, so that a mistake in it fails the submission rather than every start.
     */
    public static String routerFile(String v) {
        java.nio.file.Path p = java.nio.file.Path.of(v);
        if (java.nio.file.Files.isReadable(p)) {
            try {
                io.flinklora.gpu.route.RouterFile.read(p);
            } catch (java.io.IOException | RuntimeException e) {
                throw new IllegalArgumentException("--router " + v + ": " + e.getMessage());
            }
        }
        return v;
    }

    GenerationSettings generationSettings() {
        return GenerationSettings.builder(model).adapterRoot(adapters).device(device).dtype(dtype).maxBatch(maxBatch)
                .maxTokensPerStep(maxTokensPerStep).maxQueued(maxQueued).maxSequenceLength(maxSeqLen)
                .kvCacheMib(kvCacheMib).kvBlockSize(kvBlockSize).prefixCaching(prefixCaching)
                .adaptersOnDevice(adaptersOnDevice).adaptersInMemory(adaptersInMemory).preload(preload)
                .loraStrategy(loraStrategy).limits(maxPromptTokens, maxNewTokens, maxStopStrings, 256, maxAdapters)
                .failOnceAfterTokens(failOnceAfterTokens).router(router).build();
    }

    private static boolean isSecretOption(String name) {
        return name.startsWith("kafka.") && isSecret(name.substring(6));
    }

    private static Set<String> kafkaPasswords() {
        Set<String> names = new HashSet<>();
        for (ConfigDef def : List.of(ProducerConfig.configDef(), ConsumerConfig.configDef(), AdminClientConfig.configDef())) {
            def.configKeys().forEach((name, key) -> {
                if (key.type == ConfigDef.Type.PASSWORD) {
                    names.add(name);
                }
            });
        }
        return Set.copyOf(names);
    }

    /** Whether the value of Kafka setting {@code property} is a secret that must not be printed or logged. */
    static boolean isSecret(String property) {
        return KAFKA_PASSWORDS.contains(property) || SECRET_NAME.matcher(property).matches();
    }

    /** The {@code --kafka.} settings with secret values replaced by {@code [hidden]}, for logs and messages. */
    Map<String, String> kafkaForDisplay() {
        Map<String, String> shown = new LinkedHashMap<>();
        kafka.forEach((k, v) -> shown.put(k, isSecret(k) ? "[hidden]" : v));
        return shown;
    }

    /** All options, with secret Kafka values hidden: safe to log. */
    @Override
    public String toString() {
        return "bootstrap-servers=" + bootstrapServers + " request-topics=" + String.join(",", requestTopics)
                + " token-topic=" + tokenTopic + " completion-topic=" + completionTopic + " error-topic=" + errorTopic
                + " group-id=" + groupId + " starting-offsets=" + startingOffsets + " model=" + model + " adapters=" + adapters
                + " device=" + device + (dtype != null ? " dtype=" + dtype : "") + " max-batch=" + maxBatch + " max-queued=" + maxQueued
                + " delivery=" + delivery.name().toLowerCase(Locale.ROOT).replace('_', '-')
                + " output-format=" + outputFormat.name().toLowerCase(Locale.ROOT) + " checkpoint-interval=" + checkpointInterval
                + " parallelism=" + (parallelism > 0 ? parallelism : "default") + " transactional-id-prefix=" + transactionalIdPrefix
                + " reply-topic-pattern=" + (replyTopicPattern == null ? "none" : replyTopicPattern)
                + (router != null ? " router=" + router : "")
                + " kafka=" + kafkaForDisplay();
    }

    /** Kafka client properties given with {@code --kafka.}. */
    Properties kafkaProperties() {
        Properties p = new Properties();
        p.putAll(kafka);
        return p;
    }

    /** Every topic the job reads or writes, for tools that create them. */
    public List<String> topics() {
        List<String> all = new ArrayList<>(requestTopics);
        all.addAll(List.of(tokenTopic, completionTopic, errorTopic));
        return all;
    }

    public String tokenTopic() {
        return tokenTopic;
    }

    public String completionTopic() {
        return completionTopic;
    }

    public String errorTopic() {
        return errorTopic;
    }

    public List<String> requestTopics() {
        return requestTopics;
    }

    public Delivery delivery() {
        return delivery;
    }

    public OutputFormat outputFormat() {
        return outputFormat;
    }
}
