package io.flinklora.gpu.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.util.ArrayList;
import java.util.List;

/**
 * The trainer's forward pass: whole sequences at once with a causal mask (no KV cache) over the
 * frozen base weights of a {@link LlamaModel}, plus per-row LoRA deltas. Rows are grouped by adapter
 * ({@link Segment}s): each segment's rows go through its own A and B only, so a row's gradient
 * reaches only its own adapter. The arithmetic follows {@link LlamaModel#forward} step by step, so a
 * trained adapter behaves the same when the engine serves it.
 */
public final class TrainingForward {
    private static final float MASKED = -1e30f;

    private final LlamaModel model;
    private final ModelConfig config;
    private final LlamaModel.BaseTensors base;
    private final int maxPositions;
    private boolean segmentedOnly;

    /** A run of consecutive batch rows {@code [fromRow, toRow)} that use {@code adapter} (null: base model). */
    public record Segment(TrainableAdapter adapter, int fromRow, int toRow) {
        int rows() {
            return toRow - fromRow;
        }
    }

    public TrainingForward(LlamaModel model) {
        if (model.dtype() != DataType.FLOAT32) {
            throw new IllegalArgumentException("training runs in float32, the model was loaded as " + model.dtype());
        }
        ModelConfig c = model.config();
        if (c.qkNorm() || !c.block().isLlama() || c.fusedProjections() || c.slidingWindow() > 0
                || c.rope().longRope() != null) {
            // This forward has no per-head q/k norm; training would fit a different model than the one served.
            throw new IllegalArgumentException("training does not support " + model.config().architecture()
                    + " yet (its forward pass covers the Llama block with full attention and unfused projections only)");
        }
        this.model = model;
        this.config = model.config();
        this.base = model.baseTensors();
        this.maxPositions = model.maxPositions();
    }

    public ModelConfig config() {
        return config;
    }

    /** Longest sequence a batch may hold (the rotary tables' length). */
    public int maxPositions() {
        return maxPositions;
    }

    /**
     * Next-token logits for every position of every row.
     *
     * @param tokens [rows, T] int64 token ids (right-padded rows: padding after the real tokens is never
     *     seen by them, the mask is causal)
     * @param segments cover rows 0..rows-1 in order
     * @return [rows * T, vocab] float32 logits, row-major by (row, position)
     */
    public NDArray logits(NDArray tokens, List<Segment> segments) {
        return Linear.linear(hidden(tokens, segments), base.lmHead(), null).singletonOrThrow();
    }

    /**
     * The last layer's hidden state after the final norm (what the LM head reads), for every position
     * of every row: {@code [rows * T, hidden]} float32, row-major by (row, position).
     */
    public NDArray hidden(NDArray tokens, List<Segment> segments) {
        return hidden(tokens, segments, config.numLayers());
    }

    public void checkLayer(int layers) {
        if (layers < 0 || layers > config.numLayers()) {
            throw new IllegalArgumentException("layer " + layers + " is outside 0.." + config.numLayers());
        }
    }

    /**
     * The hidden state after the first {@code layers} layers, for every position of every row: the
     * residual stream (0: the token embeddings), or after all layers the final norm's output.
     */
    public NDArray hidden(NDArray tokens, List<Segment> segments, int layers) {
        checkLayer(layers);
        int rows = (int) tokens.getShape().get(0);
        int len = (int) tokens.getShape().get(1);
        if (len > maxPositions) {
            throw new IllegalArgumentException("sequence of " + len + " tokens exceeds " + maxPositions + " positions");
        }
        checkSegments(segments, rows);
        NDManager m = tokens.getManager();
        NDArray x = base.embed().get(tokens.reshape(-1));
        NDArray positions = m.arange(0, len, 1, DataType.INT64).tile(rows);
        NDArray cos = base.ropeCos().get(positions).expandDims(1);
        NDArray sin = base.ropeSin().get(positions).expandDims(1);
        NDArray mask = causalMask(m, len);
        for (int l = 0; l < layers; l++) {
            NDArray h = rmsNorm(x, base.inputNorm()[l]);
            x = x.add(attention(l, h, rows, len, cos, sin, mask, segments));
            h = rmsNorm(x, base.postNorm()[l]);
            NDArray gate = project(l, Projection.GATE, h, segments, len);
            NDArray up = project(l, Projection.UP, h, segments, len);
            x = x.add(project(l, Projection.DOWN, gate.mul(Activation.sigmoid(gate)).mul(up), segments, len));
        }
        return layers == config.numLayers() ? rmsNorm(x, base.finalNorm()) : x;
    }

    private NDArray attention(int l, NDArray h, int rows, int len, NDArray cos, NDArray sin, NDArray mask,
                              List<Segment> segments) {
        int heads = config.numHeads();
        int kvHeads = config.numKvHeads();
        int d = config.headDim();
        int group = config.groupSize();
        long tokens = (long) rows * len;
        NDArray q = project(l, Projection.Q, h, segments, len).reshape(tokens, heads, d);
        NDArray k = project(l, Projection.K, h, segments, len).reshape(tokens, kvHeads, d);
        NDArray v = project(l, Projection.V, h, segments, len);
        q = rope(q, cos, sin).mul(Tensors.scalar(q.getManager(), 1.0 / Math.sqrt(d)));
        k = rope(k, cos, sin);
        // The same grouped-query layout as the engine: [rows, kvHeads, T * group, d] against [rows, kvHeads, T, d].
        q = q.reshape(rows, len, kvHeads, group, d).transpose(0, 2, 1, 3, 4).reshape(rows, kvHeads, (long) len * group, d);
        NDArray keys = k.reshape(rows, len, kvHeads, d).transpose(0, 2, 1, 3);
        NDArray values = v.reshape(rows, len, kvHeads, d).transpose(0, 2, 1, 3);
        NDArray scores = q.matMul(keys.transpose(0, 1, 3, 2)).reshape(rows, kvHeads, len, group, len).add(mask);
        NDArray probs = scores.softmax(-1).reshape(rows, kvHeads, (long) len * group, len);
        NDArray out = probs.matMul(values)
                .reshape(rows, kvHeads, len, group, d)
                .transpose(0, 2, 1, 3, 4)
                .reshape(tokens, (long) heads * d);
        return project(l, Projection.O, out, segments, len);
    }

    /** Base projection plus, per segment, {@code scale * (x A^T) B^T} of the segment's adapter. */
    private NDArray project(int l, Projection p, NDArray in, List<Segment> segments, int len) {
        NDArray out = Linear.linear(in, model.weight(l, p), bias(l, p)).singletonOrThrow();
        boolean any = false;
        for (Segment s : segments) {
            any |= s.adapter() != null && s.adapter().a(l, p) != null;
        }
        if (!any) {
            return out;
        }
        if (segments.size() > 1 && !segmentedOnly && stackable(l, p, segments)) {
            return out.add(stacked(l, p, in, segments, len, out.getShape().get(1)));
        }
        List<NDArray> parts = new ArrayList<>(segments.size());
        for (Segment s : segments) {
            long from = (long) s.fromRow() * len;
            long to = (long) s.toRow() * len;
            TrainableAdapter a = s.adapter();
            if (a == null || a.a(l, p) == null) {
                parts.add(out.getManager().zeros(new Shape(to - from, out.getShape().get(1)), out.getDataType()));
                continue;
            }
            NDArray x = segments.size() == 1 ? in : in.get(new NDIndex(from + ":" + to));
            parts.add(x.matMul(a.a(l, p).transpose()).matMul(a.b(l, p).transpose())
                    .mul(Tensors.scalar(x.getManager(), a.scale(l, p))));
        }
        NDArray delta = parts.size() == 1 ? parts.get(0) : NDArrays.concat(new NDList(parts), 0);
        return out.add(delta);
    }

    /** Whether every segment has the same number of rows and an adapter of the same rank on (l, p). */
    private static boolean stackable(int l, Projection p, List<Segment> segments) {
        Segment first = segments.get(0);
        for (Segment s : segments) {
            if (s.adapter() == null || s.adapter().a(l, p) == null || s.rows() != first.rows()
                    || s.adapter().a(l, p).getShape().get(0) != first.adapter().a(l, p).getShape().get(0)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The common joint-training case in a fixed number of operations whatever the number of
     * adapters: the adapters' A and B stacked to {@code [K, r, in]} and {@code [K, out, r]}, the
     * rows viewed as {@code [K, rows * T, in]}, two batched products. Stacking is differentiable,
     * so each adapter's matrices still get the gradient of their own rows only.
     */
    private NDArray stacked(int l, Projection p, NDArray in, List<Segment> segments, int len, long outFeatures) {
        NDList as = new NDList(segments.size());
        NDList bs = new NDList(segments.size());
        float[] scales = new float[segments.size()];
        for (int k = 0; k < segments.size(); k++) {
            TrainableAdapter a = segments.get(k).adapter();
            as.add(a.a(l, p));
            bs.add(a.b(l, p));
            scales[k] = (float) a.scale(l, p);
        }
        long perAdapter = (long) segments.get(0).rows() * len;
        NDArray x = in.reshape(segments.size(), perAdapter, in.getShape().get(1));
        NDArray delta = x.matMul(NDArrays.stack(as, 0).transpose(0, 2, 1))
                .matMul(NDArrays.stack(bs, 0).transpose(0, 2, 1))
                .mul(Tensors.create(in.getManager(), scales, new Shape(segments.size(), 1, 1)));
        return delta.reshape(in.getShape().get(0), outFeatures);
    }

    /** Forces the per-segment path (tests compare the two). */
    TrainingForward segmentedOnly(boolean on) {
        this.segmentedOnly = on;
        return this;
    }

    private NDArray bias(int l, Projection p) {
        return base.bias()[l][p.ordinal()];
    }

    private NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        return x.mul(cos).add(x.matMul(base.rotateHalf()).mul(sin));
    }

    private NDArray rmsNorm(NDArray x, NDArray weight) {
        // x / sqrt(mean(x^2) + eps): no Number operand is saved for backward (see Tensors).
        NDArray rms = x.square().mean(new int[] {-1}, true).add(config.rmsNormEps()).sqrt();
        return x.div(rms).mul(weight);
    }

    /** [T, 1, T] additive mask: position i sees positions 0..i. */
    private static NDArray causalMask(NDManager m, int len) {
        float[] mask = new float[len * len];
        for (int i = 0; i < len; i++) {
            for (int j = i + 1; j < len; j++) {
                mask[i * len + j] = MASKED;
            }
        }
        return Tensors.create(m, mask, new Shape(len, 1, len));
    }

    private static void checkSegments(List<Segment> segments, int rows) {
        int next = 0;
        for (Segment s : segments) {
            if (s.fromRow() != next || s.toRow() <= s.fromRow()) {
                throw new IllegalArgumentException("segments must cover the rows in order without gaps: " + segments);
            }
            next = s.toRow();
        }
        if (next != rows) {
            throw new IllegalArgumentException("segments cover " + next + " of " + rows + " rows");
        }
    }
}
