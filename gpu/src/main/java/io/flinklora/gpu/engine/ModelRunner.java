package io.flinklora.gpu.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.kv.KvCache;
import io.flinklora.gpu.model.ForwardBatch;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ProjectionDelta;
import java.util.List;

/**
 * Turns a scheduled {@link Batch} into the model's input tensors and runs the forward pass.
 * Everything it creates lives in the caller's step scope.
 */
public final class ModelRunner {
    // Large but finite: a fully masked padding row must not turn into NaN through softmax.
    private static final float MASKED = -1e30f;

    private final LlamaModel model;
    private final KvCache cache;

    public ModelRunner(LlamaModel model, KvCache cache) {
        this.model = model;
        this.cache = cache;
    }

    /** Builds the step's tensors on {@code manager}'s device. */
    public ForwardBatch prepare(Batch batch, NDManager manager) {
        List<Batch.Chunk> chunks = batch.chunks();
        int rows = chunks.size();
        int tokens = batch.tokens();
        int kvHeads = cache.kvHeads();
        int queryLen = 0;
        int keyLen = 1;
        int samplers = 0;
        for (Batch.Chunk c : chunks) {
            queryLen = Math.max(queryLen, c.length());
            keyLen = Math.max(keyLen, c.start() + c.length());
            samplers += c.logitRows();
        }
        long[] ids = new long[tokens];
        long[] pos = new long[tokens];
        long[] write = new long[tokens * kvHeads];
        long[] scatter = new long[tokens];
        long[] logitRows = new long[samplers];
        float[] mask = new float[rows * queryLen * keyLen];
        java.util.Arrays.fill(mask, MASKED);
        int t = 0;
        int r = 0;
        for (int row = 0; row < rows; row++) {
            Batch.Chunk c = chunks.get(row);
            Sequence s = c.sequence();
            int slot = s.slot().index();
            if (slot != row) {
                throw new IllegalStateException("batch row " + row + " holds slot " + slot);
            }
            boolean tree = c.scoresTree();
            for (int i = 0; i < c.length(); i++, t++) {
                int p = c.start() + i;
                ids[t] = s.token(p);
                pos[t] = s.rotaryPosition(p);
                for (int h = 0; h < kvHeads; h++) {
                    write[t * kvHeads + h] = cache.flatRow(slot, h, p);
                }
                scatter[t] = (long) row * queryLen + i;
                // Query at position p sees cached positions 0..p (causal; later slots hold stale data).
                // A candidate token of a choice tree sees the prompt and its own candidate's tokens up to p.
                int base = (row * queryLen + i) * keyLen;
                int branch = s.ownBranchStart(p);
                if (branch <= p) {
                    java.util.Arrays.fill(mask, base, base + s.promptLength(), 0f);
                    java.util.Arrays.fill(mask, base + branch, base + p + 1, 0f);
                } else {
                    java.util.Arrays.fill(mask, base, base + p + 1, 0f);
                }
                if (tree) {
                    logitRows[r++] = t;
                }
            }
            if (c.samples()) {
                logitRows[r++] = t - 1;
            }
        }
        boolean pureDecode = queryLen == 1 && tokens == rows;
        return new ForwardBatch(
                manager.create(ids),
                manager.create(pos),
                manager.create(write),
                pureDecode ? null : manager.create(scatter),
                manager.create(mask, new Shape(rows, 1, queryLen, 1, keyLen)).toType(model.dtype(), false),
                rows,
                queryLen,
                keyLen,
                manager.create(logitRows));
    }

    /**
     * Runs the batch and returns float32 logits in batch order: one row per sampling chunk, one per
     * token of a choice-tree chunk.
     */
    public NDArray run(Batch batch, NDManager manager, ProjectionDelta delta) {
        ForwardBatch input = prepare(batch, manager);
        return model.forward(input, cache, delta);
    }
}
