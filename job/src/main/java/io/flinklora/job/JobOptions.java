package io.flinklora.job;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.gpu.cli.CliOptions;
import io.flinklora.gpu.cli.EngineOptions;
import io.flinklora.operators.GenerationSettings;
import io.flinklora.operators.kafka.OutputFormat;
import io.flinklora.registry.RegistrySettings;
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
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Options of the streaming job, from the command line ({@code --name value}) with defaults. Options
 * prefixed {@code --kafka.} are passed to the Kafka clients (security settings, for example).
 */
@Command(
        name = "flink-lora-job",
        sortOptions = false,
        synopsisHeading = "",
        customSynopsis = "usage: flink run flink-lora-job-cluster.jar --model DIR [options]",
        description = "options (--name value or --name=value):",
        footer = {
            "      --kafka.<property>=V               passed to every Kafka client of the job (source, sinks, their admin clients),",
            "                                         e.g. --kafka.security.protocol SASL_SSL --kafka.sasl.mechanism SCRAM-SHA-512;",
            "                                         keep secrets off the command line with Kafka's config providers:",
            "                                         --kafka.config.providers env",
            "                                         --kafka.config.providers.env.class",
            "                                           org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            "                                         --kafka.sasl.jaas.config '... password=\"$${env:KAFKA_PASSWORD}\";'",
            "                                         (the variable must be set for the JobManager and every TaskManager)",
            "                                         values of secret settings (passwords, sasl.jaas.config, keys) are never printed"
        })
@PublicEvolving
public final class JobOptions implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Delivery to the output topics. */
    public enum Delivery {
        /**
         * Transactional sink, committed at checkpoints: read_committed consumers see each token
         * once.
         */
        EXACTLY_ONCE,
        /**
         * Tokens visible at once; after a failure some are sent again, identified by (request_id,
         * index).
         */
        AT_LEAST_ONCE
    }

    /**
     * Kafka settings of the password type in any client's definition: their values are never
     * printed.
     */
    private static final Set<String> KAFKA_PASSWORDS = kafkaPasswords();

    /**
     * Names that look secret, for settings no client defines (custom login modules, provider
     * parameters).
     */
    private static final Pattern SECRET_NAME =
            Pattern.compile("(?i).*(password|secret|jaas|credential|token|private|\\.key$).*");

    @Option(
            names = "--bootstrap-servers",
            order = 0,
            paramLabel = "HOST:PORT",
            description = "Kafka brokers " + "(default ${DEFAULT-VALUE})")
    String bootstrapServers = "localhost:9092";

    List<String> requestTopics = List.of("requests");

    @Option(
            names = "--token-topic",
            order = 2,
            paramLabel = "T",
            description = "token events (default ${DEFAULT-VALUE})")
    String tokenTopic = "tokens";

    @Option(
            names = "--completion-topic",
            order = 3,
            paramLabel = "T",
            description = "completions (default " + "${DEFAULT-VALUE})")
    String completionTopic = "completions";

    @Option(
            names = "--error-topic",
            order = 4,
            paramLabel = "T",
            description = "error records (default ${DEFAULT-VALUE})")
    String errorTopic = "errors";

    @Option(
            names = "--group-id",
            order = 5,
            paramLabel = "G",
            description = "consumer group (default ${DEFAULT-VALUE})")
    String groupId = "flink-lora";

    @Option(
            names = "--starting-offsets",
            order = 6,
            paramLabel = "committed|earliest|latest",
            converter = StartingOffsets.class,
            description = "where a fresh job starts (default ${DEFAULT-VALUE}, else earliest)")
    String startingOffsets = "committed";

    /**
     * The engine's options (model, adapters, device, batch, KV cache, request limits), shared with
     * the other tools.
     */
    @Mixin EngineOptions engine = new EngineOptions();

    @Option(
            names = "--max-queued",
            order = 31,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description =
                    "accepted requests waiting per subtask before back pressure (default ${DEFAULT-VALUE})")
    int maxQueued = GenerationSettings.DEFAULT_MAX_QUEUED;

    @Option(
            names = "--max-request-bytes",
            order = 32,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "request record size at most (default ${DEFAULT-VALUE})")
    int maxRequestBytes = 1 << 20;

    String router;
    String replyTopicPattern;
    Delivery delivery = Delivery.EXACTLY_ONCE;
    OutputFormat outputFormat = OutputFormat.AVRO;

    /**
     * Where registry-framed requests' schemas are found and avro-registry outputs' schemas
     * registered; or none.
     */
    RegistrySettings schemaRegistry;

    @Option(
            names = "--checkpoint-interval",
            order = 36,
            paramLabel = "MS",
            converter = CliOptions.PositiveLong.class,
            description = "(default ${DEFAULT-VALUE})")
    long checkpointInterval = 2000;

    @Option(
            names = "--parallelism",
            order = 37,
            paramLabel = "N",
            converter = CliOptions.Positive.class,
            description = "generation subtasks, one per GPU (default: the environment's)")
    int parallelism = -1;

    @Option(
            names = "--transactional-id-prefix",
            order = 38,
            paramLabel = "P",
            description = "(default ${DEFAULT-VALUE})")
    String transactionalIdPrefix = "flink-lora";

    @Option(
            names = "--fail-once-after-tokens",
            order = 39,
            paramLabel = "N",
            description =
                    "failure drill: "
                            + "the first attempt fails N tokens after a completed checkpoint that holds in-flight sequences (default off)")
    long failOnceAfterTokens = -1;

    Map<String, String> kafka = new LinkedHashMap<>();

    @Option(
            names = {"-h", "--help"},
            order = 40,
            usageHelp = true,
            description = "this text")
    boolean help;

    @Option(
            names = "--request-topics",
            order = 1,
            paramLabel = "a,b",
            description = "topics with requests " + "(default requests)")
    void requestTopics(String v) {
        requestTopics = List.of(v.split(","));
    }

    @Option(
            names = "--router",
            order = 30,
            paramLabel = "FILE",
            description =
                    "router file "
                            + "(models/adapters/router.json): requests with \"route\": \"auto\" get the adapters of the task whose "
                            + "example prompts are nearest to theirs (default: none; such requests are INVALID_REQUEST)")
    void router(String v) {
        router = routerFile(v);
    }

    @Option(
            names = "--reply-topic-pattern",
            order = 33,
            paramLabel = "REGEX",
            description =
                    "topics a "
                            + "request may name as reply_topic (whole-name match, e.g. 'replies\\..*'); "
                            + "others get REPLY_TOPIC_NOT_ALLOWED (default: none allowed)")
    void replyTopicPattern(String v) {
        replyTopicPattern = regex("--reply-topic-pattern", v);
    }

    @Option(
            names = "--delivery",
            order = 34,
            paramLabel = "exactly-once|at-least-once",
            converter = DeliveryWords.class,
            description = "(default exactly-once)")
    void delivery(String v) {
        delivery = Delivery.valueOf(v.replace('-', '_').toUpperCase(Locale.ROOT));
    }

    @Option(
            names = "--format",
            order = 35,
            paramLabel = "avro|json|avro-registry",
            converter = Formats.class,
            description =
                    "encoding of output records; avro-registry: a schema registry's wire format (magic byte 0, "
                            + "4-byte schema id, Avro binary), needs --schema-registry (default avro)")
    void outputFormat(String v) {
        outputFormat = OutputFormat.valueOf(v.replace('-', '_').toUpperCase(Locale.ROOT));
    }

    /** The earlier name of {@code --format}, still accepted (not shown in the usage). */
    @Option(names = "--output-format", hidden = true, converter = Formats.class)
    void outputFormatOldName(String v) {
        outputFormat(v);
    }

    @Option(
            names = "--schema-registry",
            order = 30,
            paramLabel = "URL",
            description =
                    "Apicurio Registry "
                            + "(http://host:8080, or its /apis/registry/v2 URL): requests in its framing are read (their writer schema "
                            + "looked up by id), and --format avro-registry registers the outputs' schemas there (default: none)")
    void schemaRegistry(String v) {
        schemaRegistry = RegistrySettings.of(v);
    }

    /**
     * Parses {@code --name value} and {@code --name=value}; null when {@code --help} was asked for.
     * Throws IllegalArgumentException with a message for bad input; messages never repeat a value
     * that may be a secret.
     */
    public static JobOptions parse(String[] args) {
        JobOptions o = new JobOptions();
        if (!CliOptions.parse(
                o, args, new CliOptions.PassThrough("--kafka.", o.kafka, JobOptions::isSecret))) {
            return null;
        }
        if (o.engine.model == null) {
            throw new IllegalArgumentException("--model is required\n" + usage());
        }
        o.engine.checkModelFiles();
        if (o.outputFormat == OutputFormat.AVRO_REGISTRY && o.schemaRegistry == null) {
            throw new IllegalArgumentException(
                    "--format avro-registry needs --schema-registry URL");
        }
        return o;
    }

    /** The options with their defaults, generated from the annotations above. */
    public static String usage() {
        return CliOptions.usage(new JobOptions());
    }

    /**
     * The value of option {@code name} if it is a regular expression, or a message naming the
     * option.
     */
    static String regex(String name, String v) {
        try {
            java.util.regex.Pattern.compile(v);
            return v;
        } catch (java.util.regex.PatternSyntaxException e) {
            throw new IllegalArgumentException(
                    name + " is not a regular expression: " + e.getDescription());
        }
    }

    /**
     * A router file path. Each subtask reads it at start (like the model, it must be readable
     * there); one readable here is checked now, so that a mistake in it fails the submission rather
     * than every start.
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
        return GenerationSettings.builder(engine.engineConfig())
                .device(engine.device)
                .maxQueued(maxQueued)
                .failOnceAfterTokens(failOnceAfterTokens)
                .router(router)
                .build();
    }

    /** {@code --starting-offsets} words. */
    static final class StartingOffsets extends CliOptions.OneOf {
        StartingOffsets() {
            super("committed", "earliest", "latest");
        }
    }

    /** {@code --delivery} words. */
    static final class DeliveryWords extends CliOptions.OneOf {
        DeliveryWords() {
            super("exactly-once", "at-least-once");
        }
    }

    /** {@code --format} words. */
    static final class Formats extends CliOptions.OneOf {
        Formats() {
            super("avro", "json", "avro-registry");
        }
    }

    private static Set<String> kafkaPasswords() {
        Set<String> names = new HashSet<>();
        for (ConfigDef def :
                List.of(
                        ProducerConfig.configDef(),
                        ConsumerConfig.configDef(),
                        AdminClientConfig.configDef())) {
            def.configKeys()
                    .forEach(
                            (name, key) -> {
                                if (key.type == ConfigDef.Type.PASSWORD) {
                                    names.add(name);
                                }
                            });
        }
        return Set.copyOf(names);
    }

    /**
     * Whether the value of Kafka setting {@code property} is a secret that must not be printed or
     * logged.
     */
    static boolean isSecret(String property) {
        return KAFKA_PASSWORDS.contains(property) || SECRET_NAME.matcher(property).matches();
    }

    /**
     * The {@code --kafka.} settings with secret values replaced by {@code [hidden]}, for logs and
     * messages.
     */
    Map<String, String> kafkaForDisplay() {
        Map<String, String> shown = new LinkedHashMap<>();
        kafka.forEach((k, v) -> shown.put(k, isSecret(k) ? "[hidden]" : v));
        return shown;
    }

    /** All options, with secret Kafka values hidden: safe to log. */
    @Override
    public String toString() {
        return "bootstrap-servers="
                + bootstrapServers
                + " request-topics="
                + String.join(",", requestTopics)
                + " token-topic="
                + tokenTopic
                + " completion-topic="
                + completionTopic
                + " error-topic="
                + errorTopic
                + " group-id="
                + groupId
                + " starting-offsets="
                + startingOffsets
                + " "
                + engine
                + " max-queued="
                + maxQueued
                + " delivery="
                + delivery.name().toLowerCase(Locale.ROOT).replace('_', '-')
                + " format="
                + outputFormat.name().toLowerCase(Locale.ROOT).replace('_', '-')
                + " schema-registry="
                + (schemaRegistry == null ? "none" : schemaRegistry)
                + " checkpoint-interval="
                + checkpointInterval
                + " parallelism="
                + (parallelism > 0 ? parallelism : "default")
                + " transactional-id-prefix="
                + transactionalIdPrefix
                + " reply-topic-pattern="
                + (replyTopicPattern == null ? "none" : replyTopicPattern)
                + (router != null ? " router=" + router : "")
                + " kafka="
                + kafkaForDisplay();
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

    public RegistrySettings schemaRegistry() {
        return schemaRegistry;
    }
}
