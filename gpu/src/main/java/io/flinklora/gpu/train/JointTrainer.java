package io.flinklora.gpu.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.LlamaModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Fine-tunes several LoRA adapters at once over one frozen base model (the m-LoRA idea): every step
 * puts a batch of each adapter's examples into one forward and backward pass, and each row's
 * gradient reaches only its own adapter. Each adapter has its own AdamW state, learning-rate
 * schedule, gradient clipping (by the adapter's own global norm) and loss, and the joint loss is
 * the sum of the adapters' losses, so training adapters together computes exactly what training
 * each alone would, only in fewer, larger passes.
 */
@Internal
public final class JointTrainer implements AutoCloseable {
    private final LlamaModel model;
    private final TrainingForward forward;
    private final Options options;
    private final NDManager manager;
    private final Map<String, Slot> slots = new LinkedHashMap<>();

    /**
     * @param steps total updates per adapter (the schedule's length)
     * @param batchPerAdapter examples of each adapter in every step
     * @param lr peak learning rate; {@code warmup} updates of linear warmup, then cosine decay to
     *     10%
     * @param clipNorm each adapter's gradients are scaled down to this global norm when above it
     * @param maxLen examples are truncated to this many tokens
     */
    public record Options(
            int steps,
            int batchPerAdapter,
            double lr,
            int warmup,
            double weightDecay,
            double clipNorm,
            long seed,
            int maxLen) {
        public static Options defaults(int steps, long seed) {
            return new Options(steps, 8, 3e-3, Math.max(1, steps / 20), 0.01, 1.0, seed, 256);
        }

        public Options withBatch(int b) {
            return new Options(steps, b, lr, warmup, weightDecay, clipNorm, seed, maxLen);
        }

        public Options withLr(double rate) {
            return new Options(
                    steps, batchPerAdapter, rate, warmup, weightDecay, clipNorm, seed, maxLen);
        }
    }

    /**
     * What one step did.
     *
     * @param loss per adapter: mean next-token cross-entropy over its batch's loss tokens
     * @param gradNorm per adapter: global gradient norm before clipping
     * @param tokens real (non-padding) tokens in the pass
     */
    public record StepReport(
            int step,
            Map<String, Double> lr,
            Map<String, Double> loss,
            Map<String, Double> gradNorm,
            long tokens,
            long nanos) {}

    /** One adapter being trained: its weights, optimizer state, data and sampling order. */
    private static final class Slot {
        final TrainableAdapter adapter;
        final AdamW optimizer;
        final List<TrainingExample> data;
        final Random order;
        final LrSchedule schedule;
        int[] perm;
        int next;

        Slot(
                TrainableAdapter adapter,
                AdamW optimizer,
                List<TrainingExample> data,
                long seed,
                LrSchedule schedule) {
            this.adapter = adapter;
            this.optimizer = optimizer;
            this.data = List.copyOf(data);
            this.order = new Random(seed);
            this.schedule = schedule;
        }

        /**
         * The next {@code n} examples of a shuffled pass over the data, reshuffled at each epoch.
         */
        List<TrainingExample> draw(int n) {
            List<TrainingExample> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                if (perm == null || next == perm.length) {
                    perm = new int[data.size()];
                    for (int k = 0; k < perm.length; k++) {
                        perm[k] = k;
                    }
                    for (int k = perm.length - 1; k > 0; k--) {
                        int j = order.nextInt(k + 1);
                        int tmp = perm[k];
                        perm[k] = perm[j];
                        perm[j] = tmp;
                    }
                    next = 0;
                }
                out.add(data.get(perm[next++]));
            }
            return out;
        }
    }

    public JointTrainer(LlamaModel model, Options options) {
        if (model.config().experts() != null) {
            // Its loss is piecewise in the routing: the finite-difference check that verifies this
            // trainer's gradients on every other architecture does not hold across a switch of
            // experts, so its gradients are unverified here.
            throw new IllegalArgumentException(
                    model.config().architecture()
                            + " (a mixture of experts) cannot be trained here: gradients through its"
                            + " router are not verified");
        }
        this.model = model;
        this.forward = new TrainingForward(model);
        this.options = options;
        this.manager = NDManager.newBaseManager(model.device());
    }

    public Options options() {
        return options;
    }

    public TrainingForward forward() {
        return forward;
    }

    /**
     * Adds an adapter to train on {@code data}. Its initial weights and its example order depend
     * only on {@code options.seed()} and the adapter's name, not on which other adapters train with
     * it.
     */
    public TrainableAdapter add(LoraSpec spec, List<TrainingExample> data) {
        if (slots.containsKey(spec.name())) {
            throw new IllegalArgumentException(
                    "adapter " + spec.name() + " is already being trained");
        }
        if (data.isEmpty()) {
            throw new IllegalArgumentException(
                    "adapter " + spec.name() + " has no training examples");
        }
        long seed = options.seed() * 1_000_003L + spec.name().hashCode();
        TrainableAdapter adapter = TrainableAdapter.init(spec, model.config(), manager, seed);
        AdamW opt =
                new AdamW(adapter.parameters(), manager, 0.9, 0.999, 1e-8, options.weightDecay());
        LrSchedule schedule = new LrSchedule(options.lr(), options.warmup(), options.steps(), 0.1);
        slots.put(spec.name(), new Slot(adapter, opt, data, seed ^ 0x5DEECE66DL, schedule));
        return adapter;
    }

    public TrainableAdapter adapter(String name) {
        Slot s = slots.get(name);
        if (s == null) {
            throw new IllegalArgumentException("no adapter " + name + " in training");
        }
        return s.adapter;
    }

    public List<String> adapterNames() {
        return List.copyOf(slots.keySet());
    }

    /** One joint step: a batch of every adapter's examples in one forward and backward pass. */
    public StepReport step() {
        return step(adapterNames());
    }

    /** One step over the named adapters only (the others are left exactly as they are). */
    public StepReport step(List<String> names) {
        long t0 = System.nanoTime();
        Map<String, List<TrainingExample>> batch = new LinkedHashMap<>();
        for (String n : names) {
            batch.put(n, slot(n).draw(options.batchPerAdapter()));
        }
        return run(batch, t0);
    }

    /**
     * One step on explicitly given examples per adapter (tests use it to control what each row
     * holds).
     */
    public StepReport step(Map<String, List<TrainingExample>> batch) {
        return run(batch, System.nanoTime());
    }

    private Slot slot(String name) {
        Slot s = slots.get(name);
        if (s == null) {
            throw new IllegalArgumentException("no adapter " + name + " in training");
        }
        return s;
    }

    private StepReport run(Map<String, List<TrainingExample>> batch, long t0) {
        Map<String, Double> losses = new LinkedHashMap<>();
        Map<String, Double> norms = new LinkedHashMap<>();
        Map<String, Double> rates = new LinkedHashMap<>();
        long tokens;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Packed p = pack(batch, true);
            tokens = p.realTokens;
            try (GradientCollector gc = ai.djl.engine.Engine.getInstance().newGradientCollector()) {
                NDArray nll = tokenLoss(p);
                NDArray weighted = nll.mul(p.weights);
                gc.backward(weighted.sum());
                float[] host = weighted.toFloatArray();
                int k = 0;
                for (String name : batch.keySet()) {
                    double sum = 0;
                    for (int i = p.segments.get(k).fromRow() * p.len;
                            i < p.segments.get(k).toRow() * p.len;
                            i++) {
                        sum += host[i];
                    }
                    losses.put(name, sum);
                    k++;
                }
            }
            for (String name : batch.keySet()) {
                Slot s = slot(name);
                List<NDArray> grads = new ArrayList<>();
                for (NDArray param : s.adapter.parameters()) {
                    grads.add(param.getGradient());
                }
                double lr = s.schedule.at(s.optimizer.updates());
                double norm = s.optimizer.step(grads, lr, options.clipNorm());
                for (NDArray g : grads) {
                    g.muli(0);
                }
                norms.put(name, norm);
                rates.put(name, lr);
            }
        }
        int step = batch.isEmpty() ? 0 : slot(batch.keySet().iterator().next()).optimizer.updates();
        return new StepReport(step, rates, losses, norms, tokens, System.nanoTime() - t0);
    }

    /**
     * Mean next-token cross-entropy of an adapter (or the base model when null) on examples, no
     * gradients.
     */
    public double loss(TrainableAdapter adapter, List<TrainingExample> examples) {
        double sum = 0;
        long count = 0;
        for (int from = 0; from < examples.size(); from += 16) {
            List<TrainingExample> chunk =
                    examples.subList(from, Math.min(examples.size(), from + 16));
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                Map<TrainableAdapter, List<TrainingExample>> one = new LinkedHashMap<>();
                one.put(adapter, chunk);
                Packed p = packFor(one, false);
                float[] nll = tokenLoss(p).mul(p.weights).toFloatArray();
                for (float f : nll) {
                    sum += f;
                }
                for (TrainingExample e : chunk) {
                    count += Math.min(e.ids().length, options.maxLen()) - e.lossFrom();
                }
            }
        }
        return sum / count;
    }

    /**
     * Per-token negative log-likelihood [rows * T] of the packed batch (padding included, weight
     * 0).
     */
    private NDArray tokenLoss(Packed p) {
        NDArray logits = forward.logits(p.tokens, p.lengths, p.segments);
        return logits.logSoftmax(-1).gather(p.targets.expandDims(1), 1).reshape(-1).neg();
    }

    /**
     * A batch laid out for the forward pass: rows grouped by adapter, right-padded to one length.
     */
    private record Packed(
            NDArray tokens,
            int[] lengths,
            NDArray targets,
            NDArray weights,
            List<TrainingForward.Segment> segments,
            int len,
            long realTokens) {}

    private Packed pack(Map<String, List<TrainingExample>> batch, boolean perAdapterMean) {
        Map<TrainableAdapter, List<TrainingExample>> byAdapter = new LinkedHashMap<>();
        batch.forEach((n, ex) -> byAdapter.put(slot(n).adapter, ex));
        return packFor(byAdapter, perAdapterMean);
    }

    /**
     * Weights: with {@code perAdapterMean}, 1 / (loss tokens of the adapter) on each loss token, so
     * the weighted sum is the sum of the adapters' mean losses; otherwise 1 on each loss token.
     */
    private Packed packFor(
            Map<TrainableAdapter, List<TrainingExample>> batch, boolean perAdapterMean) {
        int rows = 0;
        int len = 0;
        for (List<TrainingExample> ex : batch.values()) {
            rows += ex.size();
            for (TrainingExample e : ex) {
                len = Math.max(len, Math.min(e.ids().length, options.maxLen()));
            }
        }
        long[] tokens = new long[rows * len];
        long[] targets = new long[rows * len];
        float[] weights = new float[rows * len];
        int[] lengths = new int[rows];
        List<TrainingForward.Segment> segments = new ArrayList<>();
        int row = 0;
        long real = 0;
        for (var entry : batch.entrySet()) {
            int first = row;
            int lossTokens = 0;
            for (TrainingExample e : entry.getValue()) {
                lossTokens +=
                        Math.max(0, Math.min(e.ids().length, options.maxLen()) - e.lossFrom());
            }
            float w = perAdapterMean ? 1f / Math.max(1, lossTokens) : 1f;
            for (TrainingExample e : entry.getValue()) {
                int n = Math.min(e.ids().length, options.maxLen());
                for (int i = 0; i < n; i++) {
                    tokens[row * len + i] = e.ids()[i];
                    // Position i predicts token i + 1.
                    if (i + 1 < n) {
                        targets[row * len + i] = e.ids()[i + 1];
                        if (i + 1 >= e.lossFrom()) {
                            weights[row * len + i] = w;
                        }
                    }
                }
                real += n;
                lengths[row] = n;
                row++;
            }
            if (row > first) {
                segments.add(new TrainingForward.Segment(entry.getKey(), first, row));
            }
        }
        NDManager m = manager;
        return new Packed(
                Tensors.create(m, tokens, new Shape(rows, len)),
                lengths,
                Tensors.create(m, targets, new Shape(targets.length)),
                Tensors.create(m, weights, new Shape(weights.length)),
                segments,
                len,
                real);
    }

    /** Writes every adapter as a PEFT folder {@code dir/<name>}. */
    public void save(Path dir, String baseModel) throws java.io.IOException {
        for (Slot s : slots.values()) {
            s.adapter.save(dir.resolve(s.adapter.name()), baseModel);
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
