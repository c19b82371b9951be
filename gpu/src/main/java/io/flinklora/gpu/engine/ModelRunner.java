package io.flinklora.gpu.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.kv.BlockTable;
import io.flinklora.gpu.kv.DecodeKvCopy;
import io.flinklora.gpu.kv.KvBlockPool;
import io.flinklora.gpu.model.AttentionGroup;
import io.flinklora.gpu.model.ForwardBatch;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.ProjectionDelta;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

/**
 * Turns a scheduled {@link Batch} into the model's input tensors and runs the forward pass.
 * Everything it creates lives in the caller's step scope.
 */
@Internal
public final class ModelRunner {
    // Large but finite: a fully masked padding row must not turn into NaN through softmax.
    private static final float MASKED = -1e30f;
    // Groups per step: enough to separate decode rows from chunks of different lengths (a labelling
    // step
    // holds dozens of records of 20-60 tokens), few enough that the fixed native ops each group
    // adds per
    // layer stay small.
    static final int MAX_GROUPS = 8;
    // Below the cap, buckets still merge when that pads fewer query-key pairs than this. A padded
    // pair is gathered (keys and values copied) and multiplied in every layer; a group costs about
    // 15 native ops per layer. On the peer benchmark's mixed workload (contexts up to 512), 256
    // decoded 10-15% faster than 2048; on its 64-token workloads the two are within noise.
    static final long FREE_MERGE_PAIRS = 256;
    // The decode rows read the decoding sequences' copy while its padded keys are at most this many
    // times the gathered groups' (see readCopy).
    static final double COPY_PADDING = 3;

    private final LlamaModel model;
    private final KvBlockPool cache;
    private long copyReads;
    private long copySpans; // steps whose decode rows read the decoding sequences' copy

    public ModelRunner(LlamaModel model, KvBlockPool cache) {
        this.model = model;
        this.cache = cache;
    }

    /** Builds the step's tensors on {@code manager}'s device. */
    public ForwardBatch prepare(Batch batch, NDManager manager) {
        List<Batch.Chunk> chunks = batch.chunks();
        int rows = chunks.size();
        int tokens = batch.tokens();
        int kvHeads = cache.kvHeads();
        int bs = cache.blockSize();
        int samplers = 0;
        for (Batch.Chunk c : chunks) {
            samplers += c.logitRows();
        }
        long[] ids = new long[tokens];
        long[] pos = new long[tokens];
        long[] write = new long[tokens * kvHeads];
        long[] logitRows = new long[samplers];
        int[] firstToken = new int[rows];
        int t = 0;
        int r = 0;
        for (int row = 0; row < rows; row++) {
            Batch.Chunk c = chunks.get(row);
            Sequence s = c.sequence();
            BlockTable table = s.blocks();
            firstToken[row] = t;
            boolean tree = c.scoresTree();
            if (c.length() > 0) {
                s.setRopeLength(s.length());
            }
            for (int i = 0; i < c.length(); i++, t++) {
                int p = c.start() + i;
                ids[t] = s.token(p);
                pos[t] = ropeRow(s, p);
                for (int h = 0; h < kvHeads; h++) {
                    write[t * kvHeads + h] = cache.flatRow(table.block(p / bs), h, p % bs);
                }
                if (tree) {
                    logitRows[r++] = t;
                }
            }
            if (c.samples()) {
                logitRows[r++] = t - 1;
            }
        }
        boolean[] decoding = new boolean[rows];
        DecodeKvCopy.Plan plan = planDecodeCopy(chunks, decoding);
        NDArray copyTokens = null;
        NDArray copyWrite = null;
        if (plan != null) {
            long[] at = new long[plan.rows().length];
            long[] copyRows = new long[at.length * kvHeads];
            for (int row = 0, i = 0; row < rows; row++) {
                if (decoding[row]) {
                    at[i] = firstToken[row];
                    for (int h = 0; h < kvHeads; h++) {
                        copyRows[i * kvHeads + h] =
                                cache.decodeCopy()
                                        .flatRow(plan.rows()[i], h, chunks.get(row).start());
                    }
                    i++;
                }
            }
            boolean everyTokenInOrder = at.length == tokens;
            for (int i = 0; everyTokenInOrder && i < at.length; i++) {
                everyTokenInOrder = at[i] == i;
            }
            // A pure decode step appends every token in order: no gather of its rows.
            copyTokens = everyTokenInOrder ? null : manager.create(at);
            copyWrite = manager.create(copyRows);
            if (!readCopy(chunks, decoding, plan)) {
                plan = null; // kept up to date, but this step gathers blocks as without it
                Arrays.fill(decoding, false);
            }
        }
        List<int[]> grouping = groupRows(chunks, decoding);
        long[] outputGather = new long[tokens];
        List<AttentionGroup> groups = new ArrayList<>(grouping.size() + 1);
        long offset = 0;
        if (plan != null) {
            copyReads++;
            copySpans += plan.spans().size();
            for (DecodeKvCopy.Span span : plan.spans()) {
                AttentionGroup g =
                        decodeGroup(
                                chunks,
                                decoding,
                                plan,
                                span,
                                offset,
                                firstToken,
                                outputGather,
                                tokens,
                                manager);
                groups.add(g);
                offset += g.paddedRows();
            }
        }
        for (int[] members : grouping) {
            AttentionGroup g =
                    group(
                            chunks,
                            members,
                            firstToken,
                            offset,
                            outputGather,
                            manager,
                            grouping.size() == 1 && plan == null);
            groups.add(g);
            offset += g.paddedRows();
        }
        // One group whose padded layout is exactly the step's tokens (pure decode, or one chunk
        // alone).
        boolean identity =
                groups.size() == 1 && offset == tokens && groups.get(0).queryGather() == null;
        return new ForwardBatch(
                manager.create(ids),
                manager.create(pos),
                manager.create(write),
                groups,
                identity ? null : manager.create(outputGather),
                manager.create(logitRows),
                logitRows,
                copyTokens,
                copyWrite);
    }

    /** Steps so far whose decode rows read the decoding sequences' copy in place. */
    long copyReads() {
        return copyReads;
    }

    /** Spans of the copy those steps read, all together (a step's rows split by key length). */
    long copySpans() {
        return copySpans;
    }

    /**
     * Whether the decode rows read the copy this step: it pads every row to the longest row's keys
     * (masks, scores and softmax run over the padding), where gathered groups pad only within a
     * quarter octave of key length but copy every key twice more. The bound keeps one long sequence
     * from padding a batch of short ones many times over; on the peer benchmark's workloads (keys
     * 16-112, and 32-512 where the padding reaches about 1.9x) reading the copy was at least as
     * fast as gathering, and a bound of 1.5 (which kept the first half of the short workload's
     * decode steps on the gather) lost most of the gain.
     */
    private boolean readCopy(List<Batch.Chunk> chunks, boolean[] decoding, DecodeKvCopy.Plan plan) {
        boolean[] others = new boolean[decoding.length];
        for (int row = 0; row < others.length; row++) {
            others[row] = !decoding[row];
        }
        long gathered = 0;
        for (int[] g : groupRows(chunks, others)) {
            gathered += paddedWork(chunks, Arrays.stream(g).boxed().toList());
        }
        return plan.work() <= COPY_PADDING * gathered;
    }

    /**
     * Puts the step's one-token rows (choice trees aside) on the decoding sequences' contiguous
     * copy, marking them in {@code decoding}; releases the copy's rows of sequences computing a
     * chunk (they may rewrite their cache). Null, nothing marked, when the copy is off or full.
     */
    private DecodeKvCopy.Plan planDecodeCopy(List<Batch.Chunk> chunks, boolean[] decoding) {
        DecodeKvCopy copy = cache.decodeCopy();
        if (copy == null) {
            return null;
        }
        List<Sequence> owners = new ArrayList<>();
        List<Sequence> chunked = new ArrayList<>();
        for (int row = 0; row < chunks.size(); row++) {
            Batch.Chunk c = chunks.get(row);
            if (c.length() == 1 && c.sequence().choices() == null) {
                decoding[row] = true;
                owners.add(c.sequence());
            } else if (c.length() > 0) {
                chunked.add(c.sequence());
            }
        }
        copy.release(chunked);
        if (owners.isEmpty()) {
            return null;
        }
        int[] starts = new int[owners.size()];
        BlockTable[] tables = new BlockTable[owners.size()];
        for (int row = 0, i = 0; row < chunks.size(); row++) {
            if (decoding[row]) {
                starts[i] = chunks.get(row).start();
                tables[i++] = chunks.get(row).sequence().blocks();
            }
        }
        DecodeKvCopy.Plan plan = copy.plan(owners, starts, tables, cache);
        if (plan == null) {
            Arrays.fill(decoding, false);
        }
        return plan;
    }

    /**
     * One span of the decode rows: the copy's rows {@code span.first()..} (a row no sequence holds
     * is padding, fully masked), so attention reads the copy in place; its output rows start at
     * {@code offset} of the step's attention output.
     */
    private AttentionGroup decodeGroup(
            List<Batch.Chunk> chunks,
            boolean[] decoding,
            DecodeKvCopy.Plan plan,
            DecodeKvCopy.Span span,
            long offset,
            int[] firstToken,
            long[] outputGather,
            int tokens,
            NDManager manager) {
        int rows = span.rows();
        int first = span.first();
        int keyLen = span.keyLength();
        long[] gather = new long[rows];
        float[] mask = new float[rows * keyLen];
        Arrays.fill(mask, MASKED);
        int window = model.config().slidingWindow();
        float[] windowMask = window > 0 ? mask.clone() : null;
        boolean inOrder = rows == tokens && first == 0;
        for (int row = 0, i = 0; row < chunks.size(); row++) {
            if (!decoding[row]) {
                continue;
            }
            int r = plan.rows()[i++] - first;
            if (r < 0 || r >= rows) {
                continue; // another span's row
            }
            Batch.Chunk c = chunks.get(row);
            Sequence s = c.sequence();
            int p = c.start();
            int token = firstToken[row];
            inOrder &= r == token;
            gather[r] = token;
            outputGather[token] = offset + r;
            int base = r * keyLen;
            Arrays.fill(mask, base, base + p + 1, 0f);
            if (windowMask != null) {
                int qPos = s.rotaryPosition(p);
                for (int k = 0; k <= p; k++) {
                    if (qPos - s.rotaryPosition(k) < window) {
                        windowMask[base + k] = 0f;
                    }
                }
            }
        }
        return new AttentionGroup(
                rows,
                null,
                inOrder ? null : manager.create(gather),
                manager.create(mask, new Shape(rows, 1, 1, 1, keyLen)).toType(model.dtype(), false),
                windowMask == null
                        ? null
                        : manager.create(windowMask, new Shape(rows, 1, 1, 1, keyLen))
                                .toType(model.dtype(), false),
                1,
                keyLen,
                true,
                first);
    }

    /**
     * The rotary table row of the token at cache position {@code p}, computed in this step: its
     * rotary position, in the long table for LongRoPE when the sequence is past the original
     * context. transformers picks the table by the length of the forward pass, and Phi-3's
     * generation drops its cache on the step that crosses the original context, so every cached
     * token of a sequence is on the table of the sequence's current length ({@link
     * #ropeTableChanged} asks for that recompute). Candidate tokens of a choice tree keep their own
     * length: the prompt's for prompt tokens, p + 1 for a candidate's.
     */
    long ropeRow(Sequence s, int p) {
        int offset =
                model.ropeRowOffset(
                        s.choices() != null
                                ? (p < s.promptLength()
                                        ? s.promptLength()
                                        : s.rotaryPosition(p) + 1)
                                : s.length());
        return s.rotaryPosition(p) + offset;
    }

    /**
     * Whether the sequence's cached tokens sit on another rotary table than its next step uses (a
     * LongRoPE sequence whose generation just crossed the original context): they must be
     * recomputed, as transformers' Phi-3 generation recomputes them.
     */
    boolean ropeTableChanged(Sequence s) {
        return s.computed() > 0
                && s.choices() == null
                && model.ropeRowOffset(s.ropeLength()) != model.ropeRowOffset(s.length());
    }

    /**
     * Builds one attention group over {@code members} (rows in batch order), and records where each
     * of its tokens lands in the concatenated padded outputs, which start at {@code offset}.
     */
    private AttentionGroup group(
            List<Batch.Chunk> chunks,
            int[] members,
            int[] firstToken,
            long offset,
            long[] outputGather,
            NDManager manager,
            boolean only) {
        int n = members.length;
        int queryLen = 0;
        int keyLen = 1;
        for (int i = 0; i < n; i++) {
            Batch.Chunk c = chunks.get(members[i]);
            queryLen = Math.max(queryLen, c.length());
            keyLen = Math.max(keyLen, c.start() + c.length());
        }
        int bs = cache.blockSize();
        int kvHeads = cache.kvHeads();
        int tableLen = (keyLen + bs - 1) / bs;
        keyLen = tableLen * bs;
        long[] kvBlocks = new long[n * kvHeads * tableLen];
        long[] gather = new long[n * queryLen];
        float[] mask = new float[n * queryLen * keyLen];
        Arrays.fill(mask, MASKED);
        int window = model.config().slidingWindow();
        float[] windowMask = window > 0 ? new float[mask.length] : null;
        if (windowMask != null) {
            Arrays.fill(windowMask, MASKED);
        }
        for (int i = 0; i < n; i++) {
            Batch.Chunk c = chunks.get(members[i]);
            Sequence s = c.sequence();
            int first = firstToken[members[i]];
            BlockTable table = s.blocks();
            // Blocks past the row's own (shorter rows of the group) read the zero block, masked.
            int own = Math.min(table.size(), tableLen);
            for (int h = 0; h < kvHeads; h++) {
                int at = (i * kvHeads + h) * tableLen;
                for (int b = 0; b < tableLen; b++) {
                    kvBlocks[at + b] =
                            cache.blockRow(b < own ? table.block(b) : KvBlockPool.NULL_BLOCK, h);
                }
            }
            for (int j = 0; j < queryLen; j++) {
                int q = i * queryLen + j;
                // A padding query reads the row's first token; its output is never gathered back.
                gather[q] = j < c.length() ? first + j : first;
                if (j >= c.length()) {
                    continue;
                }
                outputGather[first + j] = offset + q;
                int p = c.start() + j;
                // Query at position p sees cached positions 0..p (causal; later positions hold
                // stale data).
                // A candidate token of a choice tree sees the prompt and its own candidate's tokens
                // up to p.
                int base = q * keyLen;
                int branch = s.ownBranchStart(p);
                if (branch <= p) {
                    Arrays.fill(mask, base, base + s.promptLength(), 0f);
                    Arrays.fill(mask, base + branch, base + p + 1, 0f);
                } else {
                    Arrays.fill(mask, base, base + p + 1, 0f);
                }
                if (windowMask != null) {
                    // Sliding layers also hide keys `window` or more positions back (transformers:
                    // kv_idx > q_idx - window), counted in rotary positions so choice trees agree.
                    int qPos = s.rotaryPosition(p);
                    for (int k = 0; k < keyLen; k++) {
                        boolean inWindow = k <= p && qPos - s.rotaryPosition(k) < window;
                        windowMask[base + k] = inWindow ? mask[base + k] : MASKED;
                    }
                }
            }
        }
        // With a single group holding every token unpadded, queries are the step's tokens as they
        // are.
        boolean identity = only && (long) n * queryLen == outputGather.length;
        return new AttentionGroup(
                n,
                manager.create(kvBlocks),
                identity ? null : manager.create(gather),
                manager.create(mask, new Shape(n, 1, queryLen, 1, keyLen))
                        .toType(model.dtype(), false),
                windowMask == null
                        ? null
                        : manager.create(windowMask, new Shape(n, 1, queryLen, 1, keyLen))
                                .toType(model.dtype(), false),
                queryLen,
                keyLen,
                false,
                0);
    }

    /**
     * Splits the rows that compute tokens this step into attention groups: rows bucketed by chunk
     * length (one-token rows - decode, one-token choice trees - apart from longer chunks, which go
     * by quarter octaves: a group pads every query to its longest chunk) and, within that, by key
     * length (quarter octaves too: a group gathers every row's keys up to the group's longest, so a
     * short decode row should not read as far as a long one). Adjacent buckets are merged where
     * that adds the least padded work while there are more than {@link #MAX_GROUPS} or the merge
     * pads at most {@link #FREE_MERGE_PAIRS} pairs (each group costs a fixed number of native ops
     * per layer). Each group lists its rows in batch order.
     */
    static List<int[]> groupRows(List<Batch.Chunk> chunks) {
        return groupRows(chunks, new boolean[chunks.size()]);
    }

    /** {@link #groupRows(List)} over the rows not marked in {@code skip}. */
    static List<int[]> groupRows(List<Batch.Chunk> chunks, boolean[] skip) {
        TreeMap<Long, List<Integer>> buckets = new TreeMap<>();
        for (int row = 0; row < chunks.size(); row++) {
            Batch.Chunk c = chunks.get(row);
            int len = c.length();
            if (len > 0 && !skip[row]) {
                long lenBucket =
                        len == 1 ? 0 : 1 + (long) Math.floor(4 * Math.log(len) / Math.log(2));
                long keyBucket =
                        (long) Math.floor(4 * Math.log(Math.max(1, c.start() + len)) / Math.log(2));
                buckets.computeIfAbsent(lenBucket << 32 | keyBucket, k -> new ArrayList<>())
                        .add(row);
            }
        }
        List<List<Integer>> groups = new ArrayList<>(buckets.values());
        List<Long> keys = new ArrayList<>(buckets.keySet());
        while (groups.size() > 1) {
            int best = -1;
            long bestExtra = Long.MAX_VALUE;
            for (int i = 0; i + 1 < groups.size(); i++) {
                // One-token rows never join longer chunks' groups: they would be padded to those
                // chunks' length.
                if ((keys.get(i) >>> 32 == 0) != (keys.get(i + 1) >>> 32 == 0)) {
                    continue;
                }
                List<Integer> merged = new ArrayList<>(groups.get(i));
                merged.addAll(groups.get(i + 1));
                long extra =
                        paddedWork(chunks, merged)
                                - paddedWork(chunks, groups.get(i))
                                - paddedWork(chunks, groups.get(i + 1));
                if (extra < bestExtra) {
                    bestExtra = extra;
                    best = i;
                }
            }
            if (best < 0) {
                break; // one group of one-token rows and one of longer chunks: cannot merge further
            }
            if (groups.size() <= MAX_GROUPS && bestExtra > FREE_MERGE_PAIRS) {
                break;
            }
            groups.get(best).addAll(groups.remove(best + 1));
            keys.remove(best + 1);
        }
        List<int[]> out = new ArrayList<>(groups.size());
        for (List<Integer> g : groups) {
            out.add(g.stream().mapToInt(Integer::intValue).sorted().toArray());
        }
        return out;
    }

    /** Query-key products of a group: rows x longest chunk x longest key range. */
    private static long paddedWork(List<Batch.Chunk> chunks, List<Integer> rows) {
        long queryLen = 0;
        long keyLen = 1;
        for (int row : rows) {
            Batch.Chunk c = chunks.get(row);
            queryLen = Math.max(queryLen, c.length());
            keyLen = Math.max(keyLen, c.start() + c.length());
        }
        return rows.size() * queryLen * keyLen;
    }

    /**
     * Runs the batch and returns float32 logits in batch order: one row per sampling chunk, one per
     * token of a choice-tree chunk.
     */
    public NDArray run(Batch batch, NDManager manager, ProjectionDelta delta) {
        DecodeKvCopy copy = cache.decodeCopy();
        try {
            ForwardBatch input = prepare(batch, manager);
            NDArray logits = model.forward(input, cache, delta);
            if (copy != null) {
                copy.commit();
            }
            return logits;
        } catch (RuntimeException | Error e) {
            if (copy != null) {
                copy.reset(); // the step may have written part of the new tokens
            }
            throw e;
        }
    }
}
