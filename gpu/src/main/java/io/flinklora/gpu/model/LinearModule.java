package io.flinklora.gpu.model;

import io.flinklora.annotation.Internal;
import java.util.List;

/**
 * A linear layer as the Hugging Face module tree names it, and the projections its output rows
 * feed: one for Llama's {@code q_proj}, three for Phi-3's fused {@code qkv_proj}. Weights and LoRA
 * deltas of a fused module are split by these row ranges, so the forward pass only ever sees the
 * seven projections.
 *
 * @param path the module path, e.g. {@code model.layers.3.self_attn.qkv_proj}
 * @param slices the output row ranges, in order, covering {@code outFeatures}
 * @param fileRows for each output row in slice order, its row in the stored module (GPT-NeoX's
 *     query_key_value interleaves q, k and v one head after another); null when they are the same
 * @param conv1d whether the checkpoint stores the weight {@code [in, out]} (GPT-2's {@code Conv1D},
 *     which computes {@code x W + b}) rather than {@code [out, in]}
 */
@Internal
public record LinearModule(
        String path,
        int inFeatures,
        int outFeatures,
        List<Slice> slices,
        int[] fileRows,
        boolean conv1d) {
    /**
     * Rows {@code offset .. offset + rows - 1} of the module's output are projection {@code
     * projection}.
     */
    public record Slice(Projection projection, int offset, int rows) {}

    public LinearModule {
        slices = List.copyOf(slices);
    }

    public LinearModule(String path, int inFeatures, int outFeatures, List<Slice> slices) {
        this(path, inFeatures, outFeatures, slices, null, false);
    }

    public LinearModule(
            String path, int inFeatures, int outFeatures, List<Slice> slices, int[] fileRows) {
        this(path, inFeatures, outFeatures, slices, fileRows, false);
    }

    /**
     * Rows of a stored per-output-row array ({@code width} values a row: a weight or lora_B row, 1
     * for a bias or DoRA magnitude) in slice order.
     */
    public float[] toSliceOrder(float[] stored, int width) {
        if (fileRows == null) {
            return stored;
        }
        float[] out = new float[stored.length];
        for (int r = 0; r < fileRows.length; r++) {
            System.arraycopy(stored, fileRows[r] * width, out, r * width, width);
        }
        return out;
    }

    /** The stored row of output row {@code row} in slice order. */
    public int fileRow(int row) {
        return fileRows == null ? row : fileRows[row];
    }

    /** Output rows in slice order as the stored rows they come from ({@code [out]} or null). */
    public long[] fileRowIndex() {
        if (fileRows == null) {
            return null;
        }
        long[] index = new long[fileRows.length];
        for (int r = 0; r < index.length; r++) {
            index[r] = fileRows[r];
        }
        return index;
    }

    /** The linear modules of one decoder layer of a model with this config, in module order. */
    static List<LinearModule> of(ModelConfig c, int layer) {
        // Phi-3: qkv_proj holds q, k, v rows in that order; Phi-3 and GLM: gate_up_proj holds gate
        // then up (chunk(2)).
        String pre = "model.layers." + layer + ".";
        int q = Projection.Q.outFeatures(c);
        int kv = Projection.K.outFeatures(c);
        int inter = c.intermediateSize();
        if (c.gptNeoX()) {
            return gptNeoX(c, layer, q);
        }
        if (c.persimmon()) {
            // Persimmon: GPT-NeoX's fused query_key_value and MLP names under self_attn and mlp.
            return List.of(
                    perHeadQkv(c, pre + "self_attn.query_key_value", q),
                    named(c, pre + "self_attn.dense", Projection.O),
                    named(c, pre + "mlp.dense_h_to_4h", Projection.UP),
                    named(c, pre + "mlp.dense_4h_to_h", Projection.DOWN));
        }
        if (c.gpt2()) {
            return gpt2(c, layer, q);
        }
        if (c.gptBigCode()) {
            return gptBigCode(c, layer, q);
        }
        if (c.gptj()) {
            // GPT-J: Llama's q, k, v with out_proj under attn., fc_in and fc_out under mlp.
            String block = "transformer.h." + layer + ".";
            return qkvOutUpDown(c, block + "attn.", block + "mlp.fc_in", block + "mlp.fc_out");
        }
        if (c.codegen()) {
            // CodeGen: qkv_proj in four shards of (q, v, k), out_proj, fc_in and fc_out under mlp.
            String block = "transformer.h." + layer + ".";
            int hidden = c.hiddenSize();
            return List.of(
                    fusedQkv(block + "attn.qkv_proj", hidden, hidden, codegenQkvRows(hidden)),
                    named(c, block + "attn.out_proj", Projection.O),
                    named(c, block + "mlp.fc_in", Projection.UP),
                    named(c, block + "mlp.fc_out", Projection.DOWN));
        }
        if (c.gptNeo()) {
            // GPT-Neo: Llama's q, k, v with out_proj under attn.attention., c_fc and c_proj under
            // mlp.
            String block = "transformer.h." + layer + ".";
            return qkvOutUpDown(
                    c, block + "attn.attention.", block + "mlp.c_fc", block + "mlp.c_proj");
        }
        if (c.mpt()) {
            // MPT: Wqkv holds q | k | v (chunk(3)), out_proj (o), ffn.up_proj and ffn.down_proj
            String block = "transformer.blocks." + layer + ".";
            int hidden = c.hiddenSize();
            return List.of(
                    fusedQkv(block + "attn.Wqkv", hidden, hidden, null),
                    named(c, block + "attn.out_proj", Projection.O),
                    named(c, block + "ffn.up_proj", Projection.UP),
                    named(c, block + "ffn.down_proj", Projection.DOWN));
        }
        if (c.falcon()) {
            // Falcon: query_key_value by key-value group, dense (o), mlp.dense_h_to_4h and
            // mlp.dense_4h_to_h
            String block = "transformer.h." + layer + ".";
            return List.of(
                    new LinearModule(
                            block + "self_attention.query_key_value",
                            c.hiddenSize(),
                            q + 2 * kv,
                            List.of(
                                    new Slice(Projection.Q, 0, q),
                                    new Slice(Projection.K, q, kv),
                                    new Slice(Projection.V, q + kv, kv)),
                            groupedQkvRows(c.numHeads(), c.numKvHeads(), c.headDim())),
                    named(c, block + "self_attention.dense", Projection.O),
                    named(c, block + "mlp.dense_h_to_4h", Projection.UP),
                    named(c, block + "mlp.dense_4h_to_h", Projection.DOWN));
        }
        if (c.bloom()) {
            // Bloom: GPT-NeoX's per-head query_key_value (view(..., heads, 3, d)) under
            // self_attention., dense (o), mlp.dense_h_to_4h and mlp.dense_4h_to_h
            String block = "transformer.h." + layer + ".";
            return List.of(
                    perHeadQkv(c, block + "self_attention.query_key_value", q),
                    named(c, block + "self_attention.dense", Projection.O),
                    named(c, block + "mlp.dense_h_to_4h", Projection.UP),
                    named(c, block + "mlp.dense_4h_to_h", Projection.DOWN));
        }
        if (c.opt()) {
            // OPT: Llama's q, k, v under model.decoder., out_proj (o), fc1 and fc2 (up and down)
            String block = c.modelRoot() + "layers." + layer + ".";
            return qkvOutUpDown(c, block + "self_attn.", block + "fc1", block + "fc2");
        }
        List<LinearModule> out = new java.util.ArrayList<>();
        if (c.fusedQkv()) {
            out.add(
                    new LinearModule(
                            pre + "self_attn.qkv_proj",
                            c.hiddenSize(),
                            q + 2 * kv,
                            List.of(
                                    new Slice(Projection.Q, 0, q),
                                    new Slice(Projection.K, q, kv),
                                    new Slice(Projection.V, q + kv, kv))));
        } else {
            out.add(single(c, layer, Projection.Q));
            out.add(single(c, layer, Projection.K));
            out.add(single(c, layer, Projection.V));
        }
        if (c.nanoChat()) {
            // NanoChat: o_proj, and CLIP's fc1 and fc2 as up and down around the activation.
            out.add(single(c, layer, Projection.O));
            out.add(named(c, pre + "mlp.fc1", Projection.UP));
            out.add(named(c, pre + "mlp.fc2", Projection.DOWN));
            return List.copyOf(out);
        }
        if (c.phi()) {
            // Phi: dense (o), and fc1 and fc2 as up and down around the activation.
            out.add(named(c, pre + "self_attn.dense", Projection.O));
            out.add(named(c, pre + "mlp.fc1", Projection.UP));
            out.add(named(c, pre + "mlp.fc2", Projection.DOWN));
            return List.copyOf(out);
        }
        out.add(single(c, layer, Projection.O));
        if (c.experts() != null && c.experts().sparse(layer)) {
            // Mixtral's and Qwen3-MoE's sparse layers: the MLP is the experts' stacked weights and
            // the router, none of them a linear module PEFT's target_modules reaches.
            return List.copyOf(out);
        }
        if (c.upDownMlp()) {
            // Nemotron and Arcee: up and down under Llama's names, no gate.
            out.add(single(c, layer, Projection.UP));
            out.add(single(c, layer, Projection.DOWN));
            return List.copyOf(out);
        }
        if (!c.gatedMlp()) {
            // Starcoder2: c_fc and c_proj, as up and down around the activation.
            out.add(named(c, pre + "mlp.c_fc", Projection.UP));
            out.add(named(c, pre + "mlp.c_proj", Projection.DOWN));
            return List.copyOf(out);
        }
        if (c.fusedGateUp()) {
            out.add(
                    new LinearModule(
                            pre + "mlp.gate_up_proj",
                            c.hiddenSize(),
                            2 * inter,
                            List.of(
                                    new Slice(Projection.GATE, 0, inter),
                                    new Slice(Projection.UP, inter, inter))));
        } else {
            out.add(single(c, layer, Projection.GATE));
            out.add(single(c, layer, Projection.UP));
        }
        out.add(single(c, layer, Projection.DOWN));
        return List.copyOf(out);
    }

    /**
     * GPT-NeoX: query_key_value holds, for each head, its q, k and v rows ({@code view(..., heads,
     * 3 * d)} then {@code chunk(3)}); dense is o, and dense_h_to_4h and dense_4h_to_h are up and
     * down around the activation.
     */
    private static List<LinearModule> gptNeoX(ModelConfig c, int layer, int hidden) {
        String pre = "gpt_neox.layers." + layer + ".";
        return List.of(
                perHeadQkv(c, pre + "attention.query_key_value", hidden),
                named(c, pre + "attention.dense", Projection.O),
                named(c, pre + "mlp.dense_h_to_4h", Projection.UP),
                named(c, pre + "mlp.dense_4h_to_h", Projection.DOWN));
    }

    /**
     * GPT-2: Conv1D modules, stored {@code [in, out]}: c_attn holds q, k and v outputs in that
     * order ({@code split(n_embd, dim=2)}), attn.c_proj is o, and mlp.c_fc and mlp.c_proj are up
     * and down around the activation.
     */
    private static List<LinearModule> gpt2(ModelConfig c, int layer, int hidden) {
        String pre = "transformer.h." + layer + ".";
        int inter = c.intermediateSize();
        return List.of(
                new LinearModule(
                        pre + "attn.c_attn",
                        hidden,
                        3 * hidden,
                        List.of(
                                new Slice(Projection.Q, 0, hidden),
                                new Slice(Projection.K, hidden, hidden),
                                new Slice(Projection.V, 2 * hidden, hidden)),
                        null,
                        true),
                conv1d(pre + "attn.c_proj", hidden, hidden, Projection.O),
                conv1d(pre + "mlp.c_fc", hidden, inter, Projection.UP),
                conv1d(pre + "mlp.c_proj", inter, hidden, Projection.DOWN));
    }

    /**
     * GPT-BigCode: GPT-2's names as nn.Linear modules; c_attn holds q then k and v ({@code
     * split((embed, kv, kv))}) with multi_query, else q, k and v one head after another ({@code
     * view(..., heads, 3 * d)} then {@code split}), as GPT-NeoX's query_key_value.
     */
    private static List<LinearModule> gptBigCode(ModelConfig c, int layer, int hidden) {
        String pre = "transformer.h." + layer + ".";
        int kv = Projection.K.outFeatures(c);
        int[] fileRows = c.numKvHeads() == c.numHeads() ? perHeadRows(hidden, c.headDim()) : null;
        return List.of(
                new LinearModule(
                        pre + "attn.c_attn",
                        hidden,
                        hidden + 2 * kv,
                        List.of(
                                new Slice(Projection.Q, 0, hidden),
                                new Slice(Projection.K, hidden, kv),
                                new Slice(Projection.V, hidden + kv, kv)),
                        fileRows),
                named(c, pre + "attn.c_proj", Projection.O),
                named(c, pre + "mlp.c_fc", Projection.UP),
                named(c, pre + "mlp.c_proj", Projection.DOWN));
    }

    /**
     * Llama's q_proj, k_proj and v_proj with out_proj for o under {@code attn}, and a gate-less MLP
     * ({@code up}, {@code down}) under the architecture's own names (OPT, GPT-J).
     */
    private static List<LinearModule> qkvOutUpDown(
            ModelConfig c, String attn, String up, String down) {
        return List.of(
                named(c, attn + "q_proj", Projection.Q),
                named(c, attn + "k_proj", Projection.K),
                named(c, attn + "v_proj", Projection.V),
                named(c, attn + "out_proj", Projection.O),
                named(c, up, Projection.UP),
                named(c, down, Projection.DOWN));
    }

    /** A fused q, k, v module storing each head's q, k and v rows one head after another. */
    private static LinearModule perHeadQkv(ModelConfig c, String path, int hidden) {
        return fusedQkv(path, c.hiddenSize(), hidden, perHeadRows(hidden, c.headDim()));
    }

    /**
     * q, k and v of one width each ({@code hidden}: every head its own key and value) fused in one
     * module reading {@code in} features, stored in slice order or by {@code fileRows}.
     */
    private static LinearModule fusedQkv(String path, int in, int hidden, int[] fileRows) {
        return new LinearModule(
                path,
                in,
                3 * hidden,
                List.of(
                        new Slice(Projection.Q, 0, hidden),
                        new Slice(Projection.K, hidden, hidden),
                        new Slice(Projection.V, 2 * hidden, hidden)),
                fileRows);
    }

    /**
     * For each q, k, v output row (q rows, then k, then v), its stored row when each head's q, k
     * and v rows sit together ({@code view(..., heads, 3 * d)} then split).
     */
    private static int[] perHeadRows(int hidden, int d) {
        int[] fileRows = new int[3 * hidden];
        for (int r = 0; r < fileRows.length; r++) {
            int part = r / hidden;
            int head = (r % hidden) / d;
            fileRows[r] = head * 3 * d + part * d + r % d;
        }
        return fileRows;
    }

    /**
     * For each q, k, v output row (q rows, then k, then v), its stored row when q, k and v are
     * stored by key-value group: each group's query heads, then its key head, then its value head
     * (Falcon's {@code view(..., groups, heads / groups + 2, d)}). One group is q | k | v
     * (multi-query); one group per head is q, k, v head after head. Null where the stored order is
     * the slice order.
     */
    static int[] groupedQkvRows(int heads, int kvHeads, int d) {
        if (kvHeads == 1) {
            return null;
        }
        int perGroup = heads / kvHeads;
        int groupRows = (perGroup + 2) * d;
        int[] fileRows = new int[(heads + 2 * kvHeads) * d];
        int r = 0;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d; i++) {
                fileRows[r++] = (h / perGroup) * groupRows + (h % perGroup) * d + i;
            }
        }
        for (int part = 0; part < 2; part++) {
            for (int g = 0; g < kvHeads; g++) {
                for (int i = 0; i < d; i++) {
                    fileRows[r++] = g * groupRows + (perGroup + part) * d + i;
                }
            }
        }
        return fileRows;
    }

    /**
     * For each q, k, v output row (q rows, then k, then v), its stored row in CodeGen's qkv_proj:
     * four model-parallel shards ({@code reshape(..., 4, -1)}), each holding its quarter of the q
     * rows, then of the v rows, then of the k rows ({@code split(local_dim)} as query, value, key).
     * Heads follow each other within and across shards, so a row's place in its projection only
     * picks the shard and the offset in it.
     */
    static int[] codegenQkvRows(int hidden) {
        int local = hidden / 4;
        int[] fileRows = new int[3 * hidden];
        int[] part = {0, 2, 1}; // q, k, v at their places in a (q, v, k) shard
        for (int r = 0; r < fileRows.length; r++) {
            int p = r / hidden;
            int row = r % hidden;
            fileRows[r] = (row / local) * 3 * local + part[p] * local + row % local;
        }
        return fileRows;
    }

    private static LinearModule conv1d(String path, int in, int out, Projection p) {
        return new LinearModule(path, in, out, List.of(new Slice(p, 0, out)), null, true);
    }

    private static LinearModule single(ModelConfig c, int layer, Projection p) {
        return named(c, p.path(layer), p);
    }

    private static LinearModule named(ModelConfig c, String path, Projection p) {
        return new LinearModule(
                path,
                p.inFeatures(c),
                p.outFeatures(c),
                List.of(new Slice(p, 0, p.outFeatures(c))));
    }
}
