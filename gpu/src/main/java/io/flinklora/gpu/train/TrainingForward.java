package io.flinklora.gpu.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.model.ProjectionDelta;
import java.util.ArrayList;
import java.util.List;

/**
 * The trainer's forward pass: {@link LlamaModel#logitsCausal} (whole sequences, causal mask, no KV
 * cache, the same code that serves) with per-row LoRA deltas of trainable adapters. Rows are
 * grouped by adapter ({@link Segment}s): each segment's rows go through its own A and B only, so a
 * row's gradient reaches only its own adapter.
 */
@Internal
public final class TrainingForward {
    private final LlamaModel model;
    private final ModelConfig config;
    private boolean segmentedOnly;

    /**
     * A run of consecutive batch rows {@code [fromRow, toRow)} that use {@code adapter} (null: base
     * model).
     */
    public record Segment(TrainableAdapter adapter, int fromRow, int toRow) {
        int rows() {
            return toRow - fromRow;
        }
    }

    public TrainingForward(LlamaModel model) {
        if (model.dtype() != DataType.FLOAT32) {
            throw new IllegalArgumentException(
                    "training runs in float32, the model was loaded as " + model.dtype());
        }
        if (!model.config().llamaModuleNames()) {
            // Adapters are trained and saved per projection under Llama's names (q_proj, ...),
            // which a fused checkpoint, or Starcoder2's c_fc / c_proj, has no module for.
            throw new IllegalArgumentException(
                    "training does not support "
                            + model.config().architecture()
                            + (model.config().fusedProjections()
                                    ? " (its checkpoint fuses projections"
                                    : " (its MLP is c_fc and c_proj, not Llama's gate_proj,"
                                            + " up_proj and down_proj")
                            + "; adapters are saved per projection under Llama's names)");
        }
        this.model = model;
        this.config = model.config();
    }

    public ModelConfig config() {
        return config;
    }

    /** Longest sequence a batch may hold (the rotary tables' length). */
    public int maxPositions() {
        return model.maxPositions();
    }

    /**
     * Next-token logits for every position of every row.
     *
     * @param tokens [rows, T] int64 token ids (right-padded rows: padding after the real tokens is
     *     never seen by them, the mask is causal)
     * @param segments cover rows 0..rows-1 in order
     * @return [rows * T, vocab] float32 logits, row-major by (row, position)
     */
    public NDArray logits(NDArray tokens, List<Segment> segments) {
        return logits(tokens, null, segments);
    }

    /**
     * As {@link #logits(NDArray, List)}, with each row's real length (LongRoPE picks its table by
     * it).
     */
    public NDArray logits(NDArray tokens, int[] lengths, List<Segment> segments) {
        return model.logitsCausal(tokens, lengths, delta(tokens, segments));
    }

    /**
     * The last layer's hidden state after the final norm (what the LM head reads), for every
     * position of every row: {@code [rows * T, hidden]} float32, row-major by (row, position).
     */
    public NDArray hidden(NDArray tokens, List<Segment> segments) {
        return hidden(tokens, segments, config.numLayers());
    }

    /**
     * The hidden state after the first {@code layers} layers, for every position of every row: the
     * residual stream (0: the token embeddings), or after all layers the final norm's output.
     */
    public NDArray hidden(NDArray tokens, List<Segment> segments, int layers) {
        return model.hiddenCausal(tokens, null, delta(tokens, segments), layers);
    }

    private ProjectionDelta delta(NDArray tokens, List<Segment> segments) {
        checkSegments(segments, (int) tokens.getShape().get(0));
        int len = (int) tokens.getShape().get(1);
        return (l, p, in, out, baseBias) -> project(l, p, in, out, segments, len);
    }

    /** The base output plus, per segment, {@code scale * (x A^T) B^T} of the segment's adapter. */
    private NDArray project(
            int l, Projection p, NDArray in, NDArray out, List<Segment> segments, int len) {
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
                parts.add(
                        out.getManager()
                                .zeros(
                                        new Shape(to - from, out.getShape().get(1)),
                                        out.getDataType()));
                continue;
            }
            NDArray x = segments.size() == 1 ? in : in.get(new NDIndex(from + ":" + to));
            parts.add(
                    x.matMul(a.a(l, p).transpose())
                            .matMul(a.b(l, p).transpose())
                            .mul(Tensors.scalar(x.getManager(), a.scale(l, p))));
        }
        NDArray delta = parts.size() == 1 ? parts.get(0) : NDArrays.concat(new NDList(parts), 0);
        return out.add(delta);
    }

    /**
     * Whether every segment has the same number of rows and an adapter of the same rank on (l, p).
     */
    private static boolean stackable(int l, Projection p, List<Segment> segments) {
        Segment first = segments.get(0);
        for (Segment s : segments) {
            if (s.adapter() == null
                    || s.adapter().a(l, p) == null
                    || s.rows() != first.rows()
                    || s.adapter().a(l, p).getShape().get(0)
                            != first.adapter().a(l, p).getShape().get(0)) {
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
    private NDArray stacked(
            int l, Projection p, NDArray in, List<Segment> segments, int len, long outFeatures) {
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
        NDArray delta =
                x.matMul(NDArrays.stack(as, 0).transpose(0, 2, 1))
                        .matMul(NDArrays.stack(bs, 0).transpose(0, 2, 1))
                        .mul(
                                Tensors.create(
                                        in.getManager(), scales, new Shape(segments.size(), 1, 1)));
        return delta.reshape(in.getShape().get(0), outFeatures);
    }

    /** Forces the per-segment path (tests compare the two). */
    TrainingForward segmentedOnly(boolean on) {
        this.segmentedOnly = on;
        return this;
    }

    private static void checkSegments(List<Segment> segments, int rows) {
        int next = 0;
        for (Segment s : segments) {
            if (s.fromRow() != next || s.toRow() <= s.fromRow()) {
                throw new IllegalArgumentException(
                        "segments must cover the rows in order without gaps: " + segments);
            }
            next = s.toRow();
        }
        if (next != rows) {
            throw new IllegalArgumentException("segments cover " + next + " of " + rows + " rows");
        }
    }
}
