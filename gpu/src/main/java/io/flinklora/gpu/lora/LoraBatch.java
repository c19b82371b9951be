package io.flinklora.gpu.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.model.ExpertParameter;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.model.ProjectionDelta;
import io.flinklora.gpu.model.Rows;
import io.flinklora.gpu.model.SlotPlan;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The adapter deltas of one engine step: for every projection, {@code sum_a w_a * B_a (A_a x)} over
 * the adapters each token row uses, computed for all rows together (no model call per adapter).
 * Built on the engine thread inside the step's scope; every array dies with the step.
 */
@Internal
public final class LoraBatch implements ProjectionDelta {
    private final NDManager manager;
    private final DataType dtype;
    private final LoraStrategy strategy;
    private final int tokens;
    private final List<LoraAdapter> adapters = new ArrayList<>();
    private final List<long[]> rowsOf = new ArrayList<>();
    private final List<float[]> weightsOf = new ArrayList<>();
    private final Map<String, Plan> plans = new HashMap<>();
    // Plans are built at a projection's first use, inside a layer's scope, and read by every later
    // layer:
    // their arrays leave the scopes and live until close().
    private final List<NDArray> kept = new ArrayList<>();
    private final List<AdapterMix> rowMix;
    private float[][] weightOfToken;
    // The last gathered and slot-major inputs: projections that share an input (q, k, v; gate, up)
    // reuse them.
    private NDArray gatheredFrom;
    private Plan gatheredFor;
    private NDArray gatheredInput;
    private NDArray paddedFrom;
    private SlotLayout paddedFor;
    private NDArray paddedInput;

    /**
     * Which adapters (by index in the step, ordered by rank) take part in one projection: the rows
     * their (row, adapter) pairs read (null: every row once, in order), and how pair deltas return
     * to rows - a gather with optional row weights ({@code rowGather}, {@code rowScale}, {@code
     * zeroRow} for rows without a pair), or for rows mixing adapters one weighted gather per member
     * ({@code combine}).
     */
    private record Plan(
            int[] members,
            NDArray pairRows,
            Mixed combine,
            Map<Integer, NDArray> slots,
            Map<Integer, SlotLayout> layouts,
            NDArray rowGather,
            NDArray rowScale,
            boolean zeroRow) {}

    /**
     * Rows mixing adapters: for each member, which pair delta every token row reads (the appended
     * zero row when the row does not use that member) and with what weight ({@code gather} [members
     * * tokens], {@code scale} [members, tokens, 1]). A row uses each adapter at most once, so a
     * row's sum is over members: linear in the step's tokens, where a dense [tokens, pairs] weight
     * matrix would be quadratic (a search generation mixes thousands of rows).
     */
    private record Mixed(int members, NDArray gather, NDArray scale) {}

    /**
     * @param rowMix the adapter mix of each token row of the step (null or empty for base rows)
     */
    public LoraBatch(
            List<AdapterMix> rowMix, NDManager manager, DataType dtype, LoraStrategy strategy) {
        this.manager = manager;
        this.dtype = dtype;
        this.strategy = strategy;
        this.tokens = rowMix.size();
        this.rowMix = rowMix;
        Map<LoraAdapter, Integer> index = new LinkedHashMap<>();
        Map<Integer, List<long[]>> pairs = new HashMap<>();
        for (int t = 0; t < rowMix.size(); t++) {
            AdapterMix mix = rowMix.get(t);
            if (mix == null) {
                continue;
            }
            for (AdapterMix.Part part : mix.parts()) {
                int i =
                        index.computeIfAbsent(
                                part.adapter(),
                                a -> {
                                    adapters.add(a);
                                    return adapters.size() - 1;
                                });
                pairs.computeIfAbsent(i, k -> new ArrayList<>())
                        .add(new long[] {t, Double.doubleToRawLongBits(part.weight())});
            }
        }
        for (int i = 0; i < adapters.size(); i++) {
            List<long[]> p = pairs.get(i);
            long[] rows = new long[p.size()];
            float[] w = new float[p.size()];
            for (int j = 0; j < rows.length; j++) {
                rows[j] = p.get(j)[0];
                w[j] = (float) Double.longBitsToDouble(p.get(j)[1]);
            }
            rowsOf.add(rows);
            weightsOf.add(w);
        }
    }

    /** Whether any row of the step uses an adapter; a base-only step skips LoRA entirely. */
    public boolean isEmpty() {
        return adapters.isEmpty();
    }

    @Override
    public NDArray apply(int layer, Projection p, NDArray input, NDArray output, NDArray baseBias) {
        if (adapters.isEmpty()) {
            return output;
        }
        return addBaseBiases(layer, p, applyLora(layer, p, input, output, baseBias));
    }

    /**
     * LoRA on a sparse layer's parameter (the experts' stacked products, the router, Qwen2-MoE's
     * shared expert): each row whose token uses an adapter with LoRA there gets {@code w s B_e A_e
     * x} for its expert e. The (adapter, expert) cells the rows use are gathered from the {@link
     * ParameterPool} with one indexed read per side and rank, and their rows run through one
     * batched product per side in the slot layout of the dense projections ({@link SlotLayout}:
     * cells holding many rows, a prefill chunk's, run alone): the native operations per parameter
     * do not grow with the number of adapters or experts in the step.
     */
    @Override
    public NDArray parameter(
            int layer,
            ExpertParameter parameter,
            NDArray input,
            NDArray output,
            long[] tokenRows,
            int[] expertStart) {
        int n = (int) input.getShape().get(0);
        if (parameter == ExpertParameter.ROUTER) {
            output = addRouterBiases(layer, output);
        }
        output = addParameterBiases(layer, parameter, output);
        Map<Integer, List<Cell>> byRank = cells(layer, parameter, n, tokenRows, expertStart);
        if (byRank.isEmpty()) {
            return output;
        }
        if (strategy == LoraStrategy.LOOP) {
            NDArray out = output;
            for (List<Cell> group : byRank.values()) {
                for (Cell c : group) {
                    NDArray d =
                            linear(Rows.of(input, manager.create(c.rows())), c.lora().a(c.expert()))
                                    .matMul(c.lora().bT(c.expert()))
                                    .mul(
                                            manager.create(c.weights(), new Shape(c.size(), 1))
                                                    .toType(dtype, false));
                    long[] back = new long[n];
                    java.util.Arrays.fill(back, c.size());
                    for (int j = 0; j < c.size(); j++) {
                        back[(int) c.rows()[j]] = j;
                    }
                    NDArray zero = manager.zeros(new Shape(1, c.lora().out), dtype);
                    out =
                            out.add(
                                    Rows.of(
                                            NDArrays.concat(new NDList(d, zero)),
                                            manager.create(back)));
                }
            }
            return applyParameterDora(layer, parameter, out);
        }
        NDList deltas = new NDList(byRank.size());
        List<long[]> rowsOfGroups = new ArrayList<>();
        for (List<Cell> group : byRank.values()) {
            // Fewest rows first: the cells the layout keeps in its padded batch are then a prefix.
            group.sort(java.util.Comparator.comparingInt(Cell::size));
            deltas.add(cellDeltas(input, group));
            int pairs = 0;
            for (Cell c : group) {
                pairs += c.size();
            }
            long[] rows = new long[pairs];
            int at = 0;
            for (Cell c : group) {
                System.arraycopy(c.rows(), 0, rows, at, c.size());
                at += c.size();
            }
            rowsOfGroups.add(rows);
        }
        return applyParameterDora(
                layer,
                parameter,
                output.add(
                        pairsToRows(
                                deltas.size() == 1
                                        ? deltas.singletonOrThrow()
                                        : NDArrays.concat(deltas),
                                rowsOfGroups,
                                n)));
    }

    /**
     * DoRA rows of a shared-expert module: {@code out + (g - 1) out}, {@code out} holding the base
     * output (no bias there) and the row's LoRA, so the row ends as PEFT's {@code g (W x + s B A
     * x)}.
     */
    private NDArray applyParameterDora(int layer, ExpertParameter parameter, NDArray out) {
        NDArray scale =
                addPerRow(
                        null,
                        i -> {
                            ParameterLora lora = adapters.get(i).parameter(layer, parameter);
                            return lora == null ? null : lora.dora();
                        });
        return scale == null ? out : out.add(scale.mul(out));
    }

    /**
     * One (adapter, expert) cell of a sparse layer's parameter: the input rows it adapts and their
     * weights (the token's weight of that adapter).
     */
    private record Cell(ParameterLora lora, int expert, long[] rows, float[] weights) {
        int size() {
            return rows.length;
        }
    }

    /** The cells of a parameter's rows, by rank (each rank's cells share one pool). */
    private Map<Integer, List<Cell>> cells(
            int layer, ExpertParameter parameter, int n, long[] tokenRows, int[] expertStart) {
        Map<Integer, List<Cell>> byRank = new java.util.TreeMap<>();
        for (int i = 0; i < adapters.size(); i++) {
            ParameterLora lora = adapters.get(i).parameter(layer, parameter);
            if (lora == null) {
                continue;
            }
            float[] weightOfToken = weightOfToken(i);
            int experts = expertStart == null ? 1 : expertStart.length - 1;
            for (int e = 0; e < experts; e++) {
                int from = expertStart == null ? 0 : expertStart[e];
                int to = expertStart == null ? n : expertStart[e + 1];
                long[] rows = new long[to - from];
                float[] weights = new float[to - from];
                int k = 0;
                for (int r = from; r < to; r++) {
                    float wt = weightOfToken[(int) (tokenRows == null ? r : tokenRows[r])];
                    if (!Float.isNaN(wt)) {
                        rows[k] = r;
                        weights[k++] = wt;
                    }
                }
                if (k > 0) {
                    byRank.computeIfAbsent(lora.rank, x -> new ArrayList<>())
                            .add(
                                    new Cell(
                                            lora,
                                            e,
                                            java.util.Arrays.copyOf(rows, k),
                                            java.util.Arrays.copyOf(weights, k)));
                }
            }
        }
        return byRank;
    }

    /**
     * The weighted deltas {@code [pairs, out]} of one rank's cells, their rows in cell order: the
     * light cells' A and B gathered from their pool in one read each and their rows in a padded
     * {@code [cells, depth, in]} batch (two products), each heavy cell's rows through its own two.
     */
    private NDArray cellDeltas(NDArray input, List<Cell> group) {
        int g = group.size();
        int[] ids = new int[g];
        int[] counts = new int[g];
        int pairs = 0;
        for (int c = 0; c < g; c++) {
            ids[c] = c;
            counts[c] = group.get(c).size();
            pairs += counts[c];
        }
        long[] rows = new long[pairs];
        float[] weights = new float[pairs];
        boolean weighted = false;
        boolean inOrder = pairs == input.getShape().get(0);
        int at = 0;
        for (Cell c : group) {
            for (int j = 0; j < c.size(); j++, at++) {
                rows[at] = c.rows()[j];
                weights[at] = c.weights()[j];
                weighted |= weights[at] != 1f;
                inOrder &= rows[at] == at;
            }
        }
        NDArray x = inOrder ? input : Rows.of(input, manager.create(rows));
        SlotPlan plan = SlotPlan.of(ids, counts, ids, HEAVY_COST);
        NDList parts = new NDList();
        if (plan.slots() > 0) {
            long[] cellIds = new long[plan.slots()];
            for (int c = 0; c < cellIds.length; c++) {
                Cell cell = group.get(plan.first() + c);
                cellIds[c] = cell.lora().cell(cell.expert());
            }
            ParameterPool.Slots pool = group.get(0).lora().slots();
            NDArray index = manager.create(cellIds);
            NDArray aT = Rows.of(pool.a(), index).transpose(0, 2, 1);
            NDArray bT = Rows.of(pool.bT(), index);
            NDArray padded = plan.padded(x).reshape(plan.slots(), plan.depth(), -1);
            parts.add(padded.matMul(aT).matMul(bT).reshape((long) plan.slots() * plan.depth(), -1));
        }
        for (long[] segment : plan.heavy()) {
            Cell c = group.get((int) segment[2]);
            NDArray segmentRows = x.get(new NDIndex(segment[0] + ":" + segment[1]));
            parts.add(linear(segmentRows, c.lora().a(c.expert())).matMul(c.lora().bT(c.expert())));
        }
        NDArray d = plan.back(parts);
        return weighted
                ? d.mul(manager.create(weights, new Shape(pairs, 1)).toType(dtype, false))
                : d;
    }

    /**
     * Pair deltas {@code [pairs, out]} (the rank groups' pairs in order, {@code rowsOfGroups}
     * naming each pair's row) summed into {@code [rows, out]}: one gather when no row has two
     * pairs, else one gather of depth x rows (the zero row where a row has fewer) and a sum.
     */
    private NDArray pairsToRows(NDArray deltas, List<long[]> rowsOfGroups, int n) {
        int pairs = 0;
        for (long[] r : rowsOfGroups) {
            pairs += r.length;
        }
        int[] depthOf = new int[n];
        int depth = 0;
        boolean identity = pairs == n;
        int at = 0;
        for (long[] r : rowsOfGroups) {
            for (long row : r) {
                depth = Math.max(depth, ++depthOf[(int) row]);
                identity &= row == at++;
            }
        }
        if (identity) {
            return deltas;
        }
        long[] gather = new long[depth * n];
        java.util.Arrays.fill(gather, pairs); // the zero row appended after the pairs
        java.util.Arrays.fill(depthOf, 0);
        at = 0;
        for (long[] r : rowsOfGroups) {
            for (long row : r) {
                gather[depthOf[(int) row]++ * n + (int) row] = at++;
            }
        }
        long out = deltas.getShape().get(1);
        NDArray padded =
                NDArrays.concat(
                        new NDList(deltas, manager.zeros(new Shape(1, out), deltas.getDataType())));
        NDArray rows = Rows.of(padded, manager.create(gather));
        return depth == 1 ? rows : rows.reshape(depth, n, out).sum(new int[] {0});
    }

    /**
     * Adapter {@code i}'s weight in each token row of the step, NaN where the row does not use it;
     * built once per step, read by every expert of every sparse layer.
     */
    private float[] weightOfToken(int i) {
        if (weightOfToken == null) {
            weightOfToken = new float[adapters.size()][];
        }
        if (weightOfToken[i] == null) {
            float[] w = new float[tokens];
            java.util.Arrays.fill(w, Float.NaN);
            long[] rows = rowsOf.get(i);
            for (int j = 0; j < rows.length; j++) {
                w[(int) rows[j]] = weightsOf.get(i)[j];
            }
            weightOfToken[i] = w;
        }
        return weightOfToken[i];
    }

    /**
     * Rows of adapters whose LoRA on a shared-expert module has {@code lora_bias} get its scaled
     * bias (the module's rows are the step's tokens in order).
     */
    private NDArray addParameterBiases(int layer, ExpertParameter parameter, NDArray output) {
        return addPerRow(
                output,
                i -> {
                    ParameterLora lora = adapters.get(i).parameter(layer, parameter);
                    return lora == null ? null : lora.bias();
                });
    }

    /**
     * Rows of adapters that trained GPT-OSS's router bias (PEFT's {@code bias = all / lora_only})
     * route with it instead of the model's: its difference added to their logits.
     */
    private NDArray addRouterBiases(int layer, NDArray logits) {
        return addPerRow(logits, i -> adapters.get(i).routerBiasDelta(layer));
    }

    /**
     * Rows of adapters that trained the base bias (PEFT's {@code bias = all / lora_only}) get that
     * bias instead of the base model's: its difference added per row.
     */
    private NDArray addBaseBiases(int layer, Projection p, NDArray output) {
        return addPerRow(output, i -> adapters.get(i).baseBiasDelta(layer, p));
    }

    /**
     * {@code output} plus, on each row, the weighted sum of its adapters' vectors {@code [1, out]}
     * ({@code vectorOf} null for an adapter without one); {@code output} itself when none has one.
     * With a null {@code output}: that sum alone, or null.
     */
    private NDArray addPerRow(NDArray output, java.util.function.IntFunction<NDArray> vectorOf) {
        List<Integer> which = new ArrayList<>();
        for (int i = 0; i < adapters.size(); i++) {
            if (vectorOf.apply(i) != null) {
                which.add(i);
            }
        }
        if (which.isEmpty()) {
            return output;
        }
        NDArray table = rowTable(which, vectorOf);
        return output == null ? table : output.add(table);
    }

    private NDArray applyLora(
            int layer, Projection p, NDArray input, NDArray output, NDArray baseBias) {
        List<Integer> members = new ArrayList<>();
        for (int i = 0; i < adapters.size(); i++) {
            if (adapters.get(i).module(layer, p) != null) {
                members.add(i);
            }
        }
        if (members.isEmpty()) {
            return output;
        }
        if (strategy == LoraStrategy.LOOP) {
            return applyDora(
                    layer,
                    p,
                    members,
                    addBiases(layer, p, members, loop(layer, p, input, output)),
                    baseBias);
        }
        // Grouping by rank lets the gathered strategy read each rank's pool once.
        members.sort(
                java.util.Comparator.comparingInt(
                                (Integer i) -> adapters.get(i).module(layer, p).rank)
                        .thenComparingInt(i -> i));
        Plan plan = plan(members.stream().mapToInt(Integer::intValue).toArray(), layer, p);
        NDArray x;
        if (plan.pairRows() == null) {
            x = input; // every row adapted once, in token order
        } else if (input == gatheredFrom && plan == gatheredFor) {
            x = gatheredInput; // q, k and v (gate and up) read the same input: gather it once
        } else {
            x = Rows.of(input, plan.pairRows());
            gatheredFrom = input;
            gatheredFor = plan;
            gatheredInput = x;
        }
        NDArray deltas =
                switch (strategy) {
                    case GATHERED -> gathered(layer, p, x, plan, false);
                    case POOLED -> gathered(layer, p, x, plan, true);
                    default -> segmented(layer, p, x, plan);
                };
        return applyDora(
                layer,
                p,
                members,
                addBiases(layer, p, members, output.add(combine(plan, deltas))),
                baseBias);
    }

    /**
     * Brings pair deltas [pairs, out] back to token rows [tokens, out]. When no row uses two
     * adapters of this projection (the common case) that is one gather (unadapted rows read a zero
     * row) and a per-row weight when any weight is not 1: linear in the step's tokens. Rows with
     * several adapters (weighted mixes) sum one weighted gather per member adapter instead ({@link
     * Mixed}).
     */
    private NDArray combine(Plan plan, NDArray deltas) {
        if (plan.combine() != null) {
            Mixed m = plan.combine();
            long out = deltas.getShape().get(1);
            NDArray padded =
                    NDArrays.concat(
                            new NDList(
                                    deltas,
                                    manager.zeros(new Shape(1, out), deltas.getDataType())));
            return Rows.of(padded, m.gather())
                    .reshape(m.members(), tokens, out)
                    .mul(m.scale())
                    .sum(new int[] {0});
        }
        if (plan.rowGather() == null) {
            return deltas;
        }
        NDArray source = deltas;
        if (plan.zeroRow()) {
            source =
                    NDArrays.concat(
                            new NDList(
                                    deltas,
                                    manager.zeros(
                                            new Shape(1, deltas.getShape().get(1)),
                                            deltas.getDataType())));
        }
        NDArray rows = Rows.of(source, plan.rowGather());
        return plan.rowScale() == null ? rows : rows.mul(plan.rowScale());
    }

    /**
     * DoRA rows: {@code out + (g - 1) (out - bias)} where {@code out} already holds the base output
     * and the row's {@code s B A x}, so the row ends as PEFT's {@code R + (g - 1)(R - bias) + g s B
     * A x}.
     */
    private NDArray applyDora(
            int layer, Projection p, List<Integer> members, NDArray output, NDArray baseBias) {
        List<Integer> dora = new ArrayList<>();
        for (int i : members) {
            if (adapters.get(i).module(layer, p).doraScale != null) {
                dora.add(i);
            }
        }
        if (dora.isEmpty()) {
            return output;
        }
        NDArray scale = rowTable(dora, i -> adapters.get(i).module(layer, p).dora);
        NDArray withoutBias = baseBias == null ? output : output.sub(baseBias);
        return output.add(scale.mul(withoutBias));
    }

    /**
     * [tokens, out]: each row's weighted sum of the given adapters' device vectors [1, out] (zero
     * for other rows).
     */
    private NDArray rowTable(List<Integer> which, java.util.function.IntFunction<NDArray> vector) {
        int n = which.size();
        float[] weights = new float[tokens * n];
        NDList table = new NDList(n);
        for (int k = 0; k < n; k++) {
            int i = which.get(k);
            long[] rows = rowsOf.get(i);
            float[] w = weightsOf.get(i);
            for (int j = 0; j < rows.length; j++) {
                weights[(int) rows[j] * n + k] += w[j];
            }
            table.add(vector.apply(i));
        }
        NDArray rowWeights = manager.create(weights, new Shape(tokens, n)).toType(dtype, false);
        return rowWeights.matMul(n == 1 ? table.singletonOrThrow() : NDArrays.concat(table));
    }

    @Override
    public NDArray embed(NDArray tokenIds, NDArray embedded) {
        NDArray out = trainableTokenRows(tokenIds, embedded);
        for (int i = 0; i < adapters.size(); i++) {
            LoraAdapter a = adapters.get(i);
            if (a.savedEmbed() == null && a.embedAT() == null) {
                continue;
            }
            NDArray rows = manager.create(rowsOf.get(i));
            NDArray ids = tokenIds.get(rows);
            if (a.savedEmbed() != null) {
                // modules_to_save: the adapter's own table (such an adapter runs alone, at weight
                // 1).
                if (out == embedded) {
                    out = embedded.duplicate();
                }
                out.set(new ai.djl.ndarray.index.NDIndex("{}", rows), a.savedEmbed().get(ids));
            }
            if (a.embedAT() != null) {
                // Embedding LoRA: rows of A^T picked by token id, times s B^T, weighted per row.
                NDArray d = a.embedAT().get(ids).matMul(a.embedBT());
                float[] w = weightsOf.get(i);
                float[] combine = new float[tokens * w.length];
                long[] r = rowsOf.get(i);
                for (int j = 0; j < w.length; j++) {
                    combine[(int) r[j] * w.length + j] = w[j];
                }
                out =
                        out.add(
                                manager.create(combine, new Shape(tokens, w.length))
                                        .toType(dtype, false)
                                        .matMul(d));
            }
        }
        return out;
    }

    @Override
    public NDArray logits(NDArray hidden, NDArray logits, long[] tokenRows) {
        NDArray out = tiedTokenLogits(hidden, headDeltas(hidden, logits, tokenRows), tokenRows);
        for (LoraAdapter a : adapters) {
            if (a.savedLmHead() == null) {
                continue;
            }
            long[] mine = logitRowsOf(a, tokenRows);
            if (mine.length == 0) {
                continue;
            }
            if (out == logits) {
                out = logits.duplicate();
            }
            NDArray idx = manager.create(mine);
            // modules_to_save lm_head: the adapter's own head for its rows (it runs alone, at
            // weight 1).
            out.set(
                    new ai.djl.ndarray.index.NDIndex("{}", idx),
                    Linear.linear(hidden.get(idx), a.savedLmHead(), a.savedLmHeadBias())
                            .singletonOrThrow()
                            .toType(out.getDataType(), false));
        }
        return out;
    }

    /**
     * PEFT's TrainableTokens: the rows of an adapter's tokens whose id it lists read the adapter's
     * own embedding row instead of the model's (such an adapter runs alone, at weight 1).
     */
    private NDArray trainableTokenRows(NDArray tokenIds, NDArray embedded) {
        NDArray out = embedded;
        long[] ids = null;
        for (int i = 0; i < adapters.size(); i++) {
            LoraAdapter a = adapters.get(i);
            int[] listed = a.trainableTokens();
            if (listed == null) {
                continue;
            }
            if (ids == null) {
                ids = tokenIds.toType(DataType.INT64, false).toLongArray();
            }
            List<Long> rows = new ArrayList<>();
            List<Long> which = new ArrayList<>();
            for (long r : rowsOf.get(i)) {
                for (int j = 0; j < listed.length; j++) {
                    if (ids[(int) r] == listed[j]) {
                        rows.add(r);
                        which.add((long) j);
                    }
                }
            }
            if (rows.isEmpty()) {
                continue;
            }
            if (out == embedded) {
                out = embedded.duplicate();
            }
            out.set(
                    new ai.djl.ndarray.index.NDIndex("{}", manager.create(toArray(rows))),
                    a.trainableTokenRows().get(manager.create(toArray(which))));
        }
        return out;
    }

    /**
     * On a head tied to the embedding, PEFT's TrainableTokens replace the same rows of the head: an
     * adapter's logit rows take {@code h . row} for the token ids it lists.
     */
    private NDArray tiedTokenLogits(NDArray hidden, NDArray logits, long[] tokenRows) {
        NDArray out = logits;
        for (LoraAdapter a : adapters) {
            if (a.trainableTokens() == null || !a.tiedHead()) {
                continue;
            }
            long[] mine = logitRowsOf(a, tokenRows);
            if (mine.length == 0) {
                continue;
            }
            NDArray rows = manager.create(mine);
            long[] listed = java.util.Arrays.stream(a.trainableTokens()).asLongStream().toArray();
            NDArray own =
                    hidden.get(rows)
                            .matMul(a.trainableTokenRows().transpose())
                            .toType(logits.getDataType(), false);
            NDArray part = out.get(rows);
            part.set(new ai.djl.ndarray.index.NDIndex(":, {}", manager.create(listed)), own);
            if (out == logits) {
                out = logits.duplicate();
            }
            out.set(new ai.djl.ndarray.index.NDIndex("{}", rows), part);
        }
        return out;
    }

    /** The indices into a step's logit rows of the rows that use adapter {@code a}. */
    private long[] logitRowsOf(LoraAdapter a, long[] tokenRows) {
        List<Long> mine = new ArrayList<>();
        for (int r = 0; r < tokenRows.length; r++) {
            AdapterMix mix = rowMix.get((int) tokenRows[r]);
            if (mix != null && mix.parts().stream().anyMatch(part -> part.adapter() == a)) {
                mine.add((long) r);
            }
        }
        return toArray(mine);
    }

    private static long[] toArray(List<Long> values) {
        return values.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * LoRA on the output head: each logit row gets {@code sum_a w_a s_a B_a A_a h} over its
     * adapters that adapt lm_head (one weighted product per such adapter, over the step's logit
     * rows).
     */
    private NDArray headDeltas(NDArray hidden, NDArray logits, long[] tokenRows) {
        NDArray out = logits;
        for (LoraAdapter a : adapters) {
            if (a.headAT() == null) {
                continue;
            }
            float[] weight = new float[tokenRows.length];
            boolean any = false;
            for (int r = 0; r < tokenRows.length; r++) {
                AdapterMix mix = rowMix.get((int) tokenRows[r]);
                if (mix == null) {
                    continue;
                }
                for (AdapterMix.Part part : mix.parts()) {
                    if (part.adapter() == a) {
                        weight[r] += (float) part.weight();
                        any = true;
                    }
                }
            }
            if (!any) {
                continue;
            }
            NDArray delta = hidden.matMul(a.headAT()).matMul(a.headBT());
            if (a.headBias() != null) {
                delta = delta.add(a.headBias());
            }
            NDArray w =
                    manager.create(weight, new Shape(tokenRows.length, 1))
                            .toType(delta.getDataType(), false);
            out = out.add(delta.mul(w));
            if (a.headDoraScale() != null) {
                // DoRA: its rows (alone, at weight 1) become g (W h + s B A h), g per vocab row
                out = out.mul(w.mul(a.headDoraScale()).add(1));
            }
        }
        return out;
    }

    /**
     * Adds {@code lora_bias} terms: each row gets {@code sum_a w_a * scale_a * bias_a} over its
     * adapters that carry one, as one [tokens, n] x [n, out] product. Adapters without bias cost
     * nothing here.
     */
    private NDArray addBiases(int layer, Projection p, List<Integer> members, NDArray output) {
        List<Integer> biased = new ArrayList<>();
        for (int i : members) {
            if (adapters.get(i).module(layer, p).hostBias != null) {
                biased.add(i);
            }
        }
        if (biased.isEmpty()) {
            return output;
        }
        return output.add(rowTable(biased, i -> adapters.get(i).module(layer, p).bias));
    }

    private NDArray segmented(int layer, Projection p, NDArray x, Plan plan) {
        return perAdapter(layer, p, x, plan.members(), -1);
    }

    private NDArray gathered(int layer, Projection p, NDArray x, Plan plan, boolean pooled) {
        // Per rank: each pair's A and B come from the rank's pool with one indexed read, then two
        // batched products.
        int[] members = plan.members();
        List<Long> bounds = new ArrayList<>();
        List<Integer> ranks = new ArrayList<>();
        long at = 0;
        for (int k = 0; k < members.length; k++) {
            int rank = adapters.get(members[k]).module(layer, p).rank;
            if (ranks.isEmpty() || ranks.get(ranks.size() - 1) != rank) {
                if (!ranks.isEmpty()) {
                    bounds.add(at);
                }
                ranks.add(rank);
            }
            at += rowsOf.get(members[k]).length;
        }
        NDList groups =
                bounds.isEmpty()
                        ? new NDList(x)
                        : x.split(bounds.stream().mapToLong(Long::longValue).toArray());
        NDList parts = new NDList(ranks.size());
        for (int g = 0; g < ranks.size(); g++) {
            int rank = ranks.get(g);
            LoraAdapter.Module any = null;
            for (int k : members) {
                LoraAdapter.Module m = adapters.get(k).module(layer, p);
                if (m.rank == rank) {
                    any = m;
                    break;
                }
            }
            if (pooled) {
                SlotLayout layout = plan.layouts().get(rank);
                parts.add(
                        layout.slots() == 0
                                ? perAdapter(layer, p, groups.get(g), members, rank)
                                : slotMajor(layer, p, any.pool, groups.get(g), layout));
                continue;
            }
            NDArray poolA = any.pool.a[layer][p.ordinal()];
            NDArray poolBT = any.pool.bT[layer][p.ordinal()];
            NDArray slots = plan.slots().get(rank);
            NDArray t = Rows.of(poolA, slots).matMul(groups.get(g).expandDims(2)); // [P, r, 1]
            parts.add(t.transpose(0, 2, 1).matMul(Rows.of(poolBT, slots)).squeeze(1)); // [P, out]
        }
        return parts.size() == 1 ? parts.singletonOrThrow() : NDArrays.concat(parts);
    }

    /**
     * Pairs (members in plan order) through each adapter's own A and B, two products per adapter:
     * all members, or with {@code rank >= 0} the members of that rank group only.
     */
    private NDArray perAdapter(int layer, Projection p, NDArray x, int[] members, int rank) {
        List<LoraAdapter.Module> mods = new ArrayList<>();
        List<Long> bounds = new ArrayList<>();
        long at = 0;
        for (int k : members) {
            LoraAdapter.Module m = adapters.get(k).module(layer, p);
            if (rank >= 0 && m.rank != rank) {
                continue;
            }
            if (!mods.isEmpty()) {
                bounds.add(at);
            }
            mods.add(m);
            at += rowsOf.get(k).length;
        }
        NDList segments =
                bounds.isEmpty()
                        ? new NDList(x)
                        : x.split(bounds.stream().mapToLong(Long::longValue).toArray());
        NDList parts = new NDList(mods.size());
        for (int i = 0; i < mods.size(); i++) {
            parts.add(linear(segments.get(i), mods.get(i).a).matMul(mods.get(i).bT));
        }
        return parts.size() == 1 ? parts.singletonOrThrow() : NDArrays.concat(parts);
    }

    /**
     * Scatters the light members' pairs into [slots, depth, in] over their occupied slot range (or,
     * when that range is mostly holes, over their own slots packed in member order), one product
     * per side; the heavy members' pairs (see {@link SlotLayout}) take two products each and join
     * the others with one gather.
     */
    private NDArray slotMajor(
            int layer, Projection p, AdapterPool.RankPool pool, NDArray x, SlotLayout layout) {
        long in = x.getShape().get(1);
        long cells = (long) layout.slots() * layout.depth();
        NDArray padded;
        if (x == paddedFrom && layout == paddedFor) {
            padded = paddedInput; // q, k and v (gate and up) read the same slot-major input
        } else if (layout.positions() == null) {
            padded = x.reshape(layout.slots(), layout.depth(), in); // pairs fill the slots in order
            paddedFrom = x;
            paddedFor = layout;
            paddedInput = padded;
        } else {
            // One row past the cells takes the heavy members' pairs; it is never read.
            NDArray flat = manager.zeros(new Shape(cells + 1, in), x.getDataType());
            flat.set(new NDIndex("{}", layout.positions()), x);
            padded =
                    flat.get(new NDIndex("0:" + cells)).reshape(layout.slots(), layout.depth(), in);
            paddedFrom = x;
            paddedFor = layout;
            paddedInput = padded;
        }
        NDArray[] range =
                layout.cellSlots() == null
                        ? pool.range(layer, p, layout.first(), layout.slots())
                        : pool.packed(layer, p, layout.cellSlots());
        NDArray t = padded.matMul(range[0]);
        NDArray d = t.matMul(range[1]).reshape(cells, -1);
        if (layout.heavy().isEmpty()) {
            return layout.positions() == null ? d : Rows.of(d, layout.positions());
        }
        NDList parts = new NDList(1 + layout.heavy().size());
        parts.add(d);
        for (long[] segment : layout.heavy()) {
            LoraAdapter.Module m = adapters.get((int) segment[2]).module(layer, p);
            NDArray rows = x.get(new NDIndex(segment[0] + ":" + segment[1]));
            parts.add(linear(rows, m.a).matMul(m.bT));
        }
        return Rows.of(NDArrays.concat(parts), layout.back());
    }

    /**
     * A rank group's {@link SlotPlan} (members: adapters, or (adapter, expert) cells), its index
     * arrays on the device for the step.
     */
    private record SlotLayout(
            int first,
            int slots,
            int depth,
            NDArray positions,
            List<long[]> heavy,
            NDArray back,
            long[] cellSlots) {}

    /**
     * Below this many pairs per member a member always stays in the slot-major layout; above it,
     * running it alone costs about as much as this many padded rows (two products and a slice).
     */
    private static final int HEAVY_COST = 64;

    /** The slot layout of one rank group: {@code members} in pair order, their counts and slots. */
    private SlotLayout slotLayout(int[] members, int[] counts, int[] slotOf) {
        SlotPlan plan = SlotPlan.of(members, counts, slotOf, HEAVY_COST, true);
        return new SlotLayout(
                plan.first(),
                plan.slots(),
                plan.depth(),
                plan.positions() == null ? null : keep(manager.create(plan.positions())),
                plan.heavy(),
                plan.back() == null ? null : keep(manager.create(plan.back())),
                plan.cellSlots());
    }

    private NDArray loop(int layer, Projection p, NDArray input, NDArray output) {
        NDList rows = new NDList(tokens);
        NDArray zero = null;
        for (int t = 0; t < tokens; t++) {
            AdapterMix mix = rowMix.get(t);
            NDArray acc = null;
            if (mix != null) {
                NDArray xt = input.get(t).expandDims(0);
                for (AdapterMix.Part part : mix.parts()) {
                    LoraAdapter.Module m = part.adapter().module(layer, p);
                    if (m == null) {
                        continue;
                    }
                    NDArray d = linear(xt, m.a).matMul(m.bT);
                    if (part.weight() != 1.0) {
                        d = d.mul(part.weight());
                    }
                    acc = acc == null ? d : acc.add(d);
                }
            }
            if (acc == null) {
                if (zero == null) {
                    zero = manager.zeros(new Shape(1, output.getShape().get(1)), dtype);
                }
                acc = zero;
            }
            rows.add(acc);
        }
        return output.add(NDArrays.concat(rows));
    }

    /**
     * Gather index and mix gathers for an ordered set of adapters; shared by projections with that
     * set.
     */
    private Plan plan(int[] members, int layer, Projection p) {
        StringBuilder keyBuilder = new StringBuilder();
        for (int i : members) {
            // Slots are per rank pool, so the key holds each member's rank for this projection too.
            keyBuilder
                    .append(i)
                    .append(':')
                    .append(adapters.get(i).module(layer, p).rank)
                    .append(',');
        }
        String key = keyBuilder.toString();
        Plan cached = plans.get(key);
        if (cached != null) {
            return cached;
        }
        int pairs = 0;
        for (int i : members) {
            pairs += rowsOf.get(i).length;
        }
        long[] rows = new long[pairs];
        long[] rowGather = new long[tokens];
        java.util.Arrays.fill(rowGather, pairs); // the zero row appended after the pairs
        float[] rowScale = new float[tokens];
        boolean single = true;
        boolean everyRow = true;
        boolean unitWeights = true;
        Map<Integer, List<Long>> slots = new java.util.TreeMap<>();
        int at = 0;
        for (int k = 0; k < members.length; k++) {
            long[] r = rowsOf.get(members[k]);
            float[] w = weightsOf.get(members[k]);
            LoraAdapter.Module m = adapters.get(members[k]).module(layer, p);
            for (int j = 0; j < r.length; j++, at++) {
                rows[at] = r[j];
                single &= rowGather[(int) r[j]] == pairs;
                rowGather[(int) r[j]] = at;
                rowScale[(int) r[j]] = w[j];
                unitWeights &= w[j] == 1f;
                slots.computeIfAbsent(m.rank, x -> new ArrayList<>()).add((long) m.slot);
            }
        }
        Map<Integer, NDArray> slotArrays = new HashMap<>();
        if (strategy == LoraStrategy.GATHERED || strategy == LoraStrategy.POOLED) {
            slots.forEach(
                    (rank, list) ->
                            slotArrays.put(
                                    rank,
                                    keep(
                                            manager.create(
                                                    list.stream()
                                                            .mapToLong(Long::longValue)
                                                            .toArray()))));
        }
        Map<Integer, SlotLayout> layouts = new HashMap<>();
        if (strategy == LoraStrategy.POOLED) {
            // Members are in rank order: each rank's members are one run of the array.
            for (int k = 0; k < members.length; ) {
                int rank = adapters.get(members[k]).module(layer, p).rank;
                int end = k;
                while (end < members.length
                        && adapters.get(members[end]).module(layer, p).rank == rank) {
                    end++;
                }
                int[] group = java.util.Arrays.copyOfRange(members, k, end);
                int[] counts = new int[group.length];
                int[] slotOf = new int[group.length];
                for (int g = 0; g < group.length; g++) {
                    counts[g] = rowsOf.get(group[g]).length;
                    slotOf[g] = adapters.get(group[g]).module(layer, p).slot;
                }
                layouts.put(rank, slotLayout(group, counts, slotOf));
                k = end;
            }
        }
        for (long g : rowGather) {
            everyRow &= g != pairs;
        }
        Mixed combine = null;
        NDArray gather = null;
        NDArray scale = null;
        if (single) {
            gather = keep(manager.create(rowGather));
            if (!unitWeights) {
                scale = keep(manager.create(rowScale, new Shape(tokens, 1)).toType(dtype, false));
            }
        } else {
            long[] mixGather = new long[members.length * tokens];
            float[] mixScale = new float[members.length * tokens];
            java.util.Arrays.fill(mixGather, pairs);
            at = 0;
            for (int k = 0; k < members.length; k++) {
                long[] r = rowsOf.get(members[k]);
                float[] w = weightsOf.get(members[k]);
                for (int j = 0; j < r.length; j++, at++) {
                    mixGather[k * tokens + (int) r[j]] = at;
                    mixScale[k * tokens + (int) r[j]] = w[j];
                }
            }
            combine =
                    new Mixed(
                            members.length,
                            keep(manager.create(mixGather)),
                            keep(
                                    manager.create(mixScale, new Shape(members.length, tokens, 1))
                                            .toType(dtype, false)));
        }
        boolean inOrder = rows.length == tokens;
        for (int j = 0; j < rows.length && inOrder; j++) {
            inOrder = rows[j] == j;
        }
        if (single && everyRow && unitWeights && inOrder) {
            gather = null; // pair j is token row j: deltas are already in token order
        }
        Plan plan =
                new Plan(
                        members,
                        inOrder ? null : keep(manager.create(rows)),
                        combine,
                        slotArrays,
                        layouts,
                        gather,
                        scale,
                        single && !everyRow);
        plans.put(key, plan);
        return plan;
    }

    /** Takes {@code a} out of every scope: it lives until {@link #close()}. */
    private NDArray keep(NDArray a) {
        NDScope.unregister(a);
        kept.add(a);
        return a;
    }

    @Override
    public void close() {
        kept.forEach(NDArray::close);
        kept.clear();
        plans.clear();
    }

    private static NDArray linear(NDArray x, NDArray w) {
        return Linear.linear(x, w, null).singletonOrThrow();
    }
}
