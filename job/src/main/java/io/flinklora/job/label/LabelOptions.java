package io.flinklora.job.label;

import static io.flinklora.job.JobOptions.positive;

import io.flinklora.operators.GenerationSettings;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Options of the bulk labelling job ({@code scripts/label.sh}), from {@code --name value} pairs. */
public final class LabelOptions {
    static final String USAGE = String.join("\n",
            "usage: scripts/label.sh --input F --output F --model DIR [--adapters DIR] [--task FILE] [options]",
            "  --input F[,F2]              JSON Lines files or folders of them: {\"id\", \"text\", \"task\" | \"template\" (+ \"labels\"), \"adapter\" | \"adapters\" | \"route\": \"auto\"}",
            "  --output F                  labels, one JSON line per id; committed parts go to F.parts/ while running",
            "  --errors F                  every line that failed, with its code (default: F with .errors.jsonl)",
            "  --model DIR                 Hugging Face model folder",
            "  --adapters DIR              adapter root (sub-folders served by name)",
            "  --task FILE                 task file: {\"tasks\": [{\"name\", \"template\" with {text}, \"labels\", \"adapter\" | \"route\": \"auto\", \"max_new_tokens\"}]}",
            "  --router FILE               router file: records of tasks (or records) with \"route\": \"auto\" get the adapters",
            "                              of the router task nearest to their prompt; rows report it in \"route\"",
            "  --batch N                   sequences per forward pass (default 32)",
            "  --parallelism N             labelling subtasks, one engine each (default 1)",
            "  --max-queued N              requests waiting per subtask (default 256)",
            "  --commit-every N            rows per committed part at most (default 1000)",
            "  --commit-interval-ms MS     a part is committed at least this often while rows arrive (default 2000)",
            "  --progress-interval-ms MS   console progress line period (default 2000)",
            "  --max-record-bytes N        input line size at most (default 1048576)",
            "  --max-prompt-tokens N       prompt tokens at most (default 4096)",
            "  --max-seq-len N             prompt + output tokens at most (default: the model's context)",
            "  --kv-cache-mib N            KV cache budget per subtask in MiB (default: batch sequences at max seq len)",
            "  --prefix-caching on|off     prefill a task's shared instruction once per adapter mix (default on)",
            "  --adapters-on-device N      resident adapters per subtask (default 16)",
            "  --device auto|cpu|gpu       (default auto)",
            "  --keep-parts true|false     keep F.parts/ after the merge (default false)",
            "  --overwrite true|false      replace an existing complete output (default false)");

    List<Path> inputs = new ArrayList<>();
    Path output;
    Path errors;
    Path model;
    Path adapters;
    Path taskFile;
    Path router;
    int batch = 32;
    int parallelism = 1;
    int maxQueued = 256;
    int commitEvery = 1000;
    long commitIntervalMs = 2000;
    long progressIntervalMs = 2000;
    int maxRecordBytes = 1 << 20;
    int maxPromptTokens = 4096;
    int maxSeqLen = Integer.MAX_VALUE;
    int kvCacheMib = -1;
    boolean prefixCaching = true;
    int adaptersOnDevice = 16;
    String device = "auto";
    boolean keepParts;
    boolean overwrite;

    public static LabelOptions parse(String[] args) {
        LabelOptions o = new LabelOptions();
        for (int i = 0; i < args.length; i++) {
            String name = args[i];
            if (!name.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + name + "'");
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + name + " needs a value");
            }
            o.set(name.substring(2), args[++i]);
        }
        if (o.inputs.isEmpty() || o.output == null || o.model == null) {
            throw new IllegalArgumentException("--input, --output and --model are required");
        }
        if (o.errors == null) {
            String f = o.output.getFileName().toString();
            String base = f.endsWith(".jsonl") ? f.substring(0, f.length() - 6) : f;
            o.errors = o.output.resolveSibling(base + ".errors.jsonl");
        }
        return o;
    }

    public LabelOptions set(String name, String v) {
        switch (name) {
            case "input" -> {
                for (String p : v.split(",")) {
                    inputs.add(Path.of(p));
                }
            }
            case "output" -> output = Path.of(v);
            case "errors" -> errors = Path.of(v);
            case "model" -> model = Path.of(v);
            case "adapters" -> adapters = Path.of(v);
            case "task" -> taskFile = Path.of(v);
            case "router" -> {
                if (!java.nio.file.Files.isReadable(Path.of(v))) {
                    throw new IllegalArgumentException("--router " + v + " does not exist");
                }
                router = Path.of(io.flinklora.job.JobOptions.routerFile(v));
            }
            case "batch" -> batch = positive(name, v);
            case "parallelism" -> parallelism = positive(name, v);
            case "max-queued" -> maxQueued = positive(name, v);
            case "commit-every" -> commitEvery = positive(name, v);
            case "commit-interval-ms" -> commitIntervalMs = positive(name, v);
            case "progress-interval-ms" -> progressIntervalMs = positive(name, v);
            case "max-record-bytes" -> maxRecordBytes = positive(name, v);
            case "max-prompt-tokens" -> maxPromptTokens = positive(name, v);
            case "max-seq-len" -> maxSeqLen = positive(name, v);
            case "kv-cache-mib" -> kvCacheMib = positive(name, v);
            case "prefix-caching" -> prefixCaching = switch (v) {
                case "on" -> true;
                case "off" -> false;
                default -> throw new IllegalArgumentException("--prefix-caching must be on or off, got '" + v + "'");
            };
            case "adapters-on-device" -> adaptersOnDevice = positive(name, v);
            case "device" -> device = v;
            case "keep-parts" -> keepParts = Boolean.parseBoolean(v);
            case "overwrite" -> overwrite = Boolean.parseBoolean(v);
            default -> throw new IllegalArgumentException("unknown option --" + name);
        }
        return this;
    }

    /** Where committed parts live while a run (or a series of killed runs) is in progress. */
    public Path partsDir() {
        return output.resolveSibling(output.getFileName() + ".parts");
    }

    GenerationSettings generationSettings() {
        return GenerationSettings.builder(model.toAbsolutePath().toString())
                .adapterRoot(adapters == null ? null : adapters.toAbsolutePath().toString()).device(device)
                .maxBatch(batch).maxQueued(maxQueued).maxSequenceLength(maxSeqLen).adaptersOnDevice(adaptersOnDevice)
                .kvCacheMib(kvCacheMib).prefixCaching(prefixCaching)
                .limits(maxPromptTokens, 4096, 16, 256, 8)
                .router(router == null ? null : router.toAbsolutePath().toString()).build();
    }
}
