package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.TestModels.ReferenceRow;
import io.flinklora.gpu.lora.LoraStrategy;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.safetensors.DType;
import io.flinklora.gpu.safetensors.NativeDtypes;
import io.flinklora.gpu.safetensors.SafetensorsFile;
import io.flinklora.gpu.safetensors.SafetensorsWriter;
import io.flinklora.gpu.safetensors.WeightIndex;
import io.flinklora.gpu.sampling.SamplingParams;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bfloat16 compute against the float32 path. Runs only where the PyTorch JNI can create bfloat16
 * tensors (one built by {@code scripts/build-jni.sh}); DJL's released JNI aborts the JVM on them,
 * and {@code EngineConfig} refuses bfloat16 there instead (tested below either way).
 */
class Bfloat16Test {
    /**
     * bfloat16 keeps 8 significant bits (2^-9 relative rounding per value, 8x float16's). On the
     * tiny random conformance models transformers' own bfloat16 forward (PEFT adapters merged in,
     * same rows) moves the first-step logits from its float32 ones by 1.5% of the largest logit at
     * the median and 14% at worst (the rsLoRA all-linear rows, whose large adapter scale amplifies
     * rounding). The engine's bfloat16 must stay in that regime: every row within {@link #ROW}, the
     * median row within {@link #MEDIAN}. A wrong op in bfloat16 (garbage, a lost scale) moves
     * logits by far more.
     */
    private static final double ROW = 0.35;

    private static final double MEDIAN = 0.03;

    /** The greedy check's near-tie: the float32 gap a bfloat16 rounding can flip. */
    private static final double TIE = 0.05;

    private static boolean bf16() {
        return NativeDtypes.canCreate(ai.djl.engine.Engine.getEngine("PyTorch"), DataType.BFLOAT16);
    }

    @BeforeAll
    static void describe() {
        System.out.println(
                "Bfloat16Test: PyTorch "
                        + ai.djl.engine.Engine.getEngine("PyTorch").getVersion()
                        + ", JNI with bfloat16: "
                        + bf16());
    }

    @Test
    void bfloat16IsRefusedUpFrontWhereTheJniWouldAbort() {
        assumeTrue(!bf16(), "this JNI has bfloat16");
        IllegalArgumentException e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                EngineConfig.builder(TestModels.stories260k())
                                        .dtype(DataType.BFLOAT16)
                                        .build());
        assertTrue(e.getMessage().contains("build-jni.sh"), e.getMessage());
    }

    @Test
    void bf16CheckpointLoadsAsBf16ByteForByte(@TempDir Path dir) throws IOException {
        assumeTrue(bf16(), "needs a JNI with bfloat16 (scripts/build-jni.sh)");
        Path model = bf16Copy(TestModels.stories260k(), dir.resolve("bf16"));
        try (NDManager m = NDManager.newBaseManager();
                LlamaModel lm = LlamaModel.load(model, m, Device.cpu(), DataType.BFLOAT16, 64);
                SafetensorsFile file = SafetensorsFile.open(model.resolve("model.safetensors"))) {
            assertEquals(DataType.BFLOAT16, lm.dtype());
            assertEquals(DataType.BFLOAT16, lm.embedding().getDataType());
            for (int l = 0; l < lm.config().numLayers(); l++) {
                for (Projection p : Projection.values()) {
                    NDArray w = lm.weight(l, p);
                    assertEquals(DataType.BFLOAT16, w.getDataType(), p.path(l));
                    ByteBuffer held = w.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                    ByteBuffer stored = file.bytes(p.path(l) + ".weight");
                    assertEquals(
                            stored,
                            held,
                            p.path(l) + ": the file's bf16 bits, not widened and narrowed");
                }
            }
        }
    }

    @Test
    void firstStepLogitsAgreeWithFloat32OnTheConformanceModelsWithEveryLoraStrategy()
            throws IOException {
        assumeTrue(bf16(), "needs a JNI with bfloat16 (scripts/build-jni.sh)");
        List<Double> ratios = new ArrayList<>();
        for (JsonNode c : HuggingFaceConformanceTest.cases()) {
            String name = c.get("model").asText();
            Path model = HuggingFaceConformanceTest.casesDir().resolve(name);
            List<HuggingFaceConformanceTest.Row> rows = HuggingFaceConformanceTest.rows(c);
            List<EngineRequest> requests =
                    rows.stream().map(HuggingFaceConformanceTest::request).toList();
            for (LoraStrategy strategy : LoraStrategy.values()) {
                Map<String, float[]> f32;
                Map<String, float[]> bf;
                try (Engine e =
                        HuggingFaceConformanceTest.engine(
                                model, rows.size(), strategy, 0, DataType.FLOAT32)) {
                    f32 = firstLogits(e, requests);
                }
                try (Engine e =
                        HuggingFaceConformanceTest.engine(
                                model, rows.size(), strategy, 0, DataType.BFLOAT16)) {
                    assertEquals(DataType.BFLOAT16, e.model().dtype());
                    bf = firstLogits(e, requests);
                }
                for (HuggingFaceConformanceTest.Row r : rows) {
                    ratios.add(
                            relativeError(
                                    name + "/" + strategy + " " + r.id(),
                                    f32.get(r.id()),
                                    bf.get(r.id())));
                }
            }
        }
        Collections.sort(ratios);
        double median = ratios.get(ratios.size() / 2);
        System.out.printf(
                "Bfloat16Test: bf16 vs float32 first-step logits over %d rows: median %.4f, max %.4f"
                        + " of max |logit|%n",
                ratios.size(), median, ratios.get(ratios.size() - 1));
        assertTrue(median <= MEDIAN, "median relative logit error " + median);
    }

    @Test
    void greedyOnStories260kFollowsTheReferenceOrLeavesItOnlyAtANearTie() {
        assumeTrue(bf16(), "needs a JNI with bfloat16 (scripts/build-jni.sh)");
        List<ReferenceRow> rows = TestModels.greedyReference();
        Path model = TestModels.stories260k();
        List<EngineRequest> requests = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            requests.add(
                    EngineHarness.request(
                            "r" + i,
                            rows.get(i).promptIds(),
                            SamplingParams.greedy(rows.get(i).maxNewTokens()).withIgnoreEos(true)));
        }
        Map<String, EngineHarness.Outcome> out;
        try (Engine e =
                Engine.open(
                        EngineConfig.builder(model)
                                .maxRunning(8)
                                .dtype(DataType.BFLOAT16)
                                .build())) {
            out = EngineHarness.runAll(e, requests);
        }
        int agreed = 0;
        int total = 0;
        for (int i = 0; i < rows.size(); i++) {
            int[] want = rows.get(i).greedyIds();
            int[] got = out.get("r" + i).idArray();
            int j = 0;
            while (j < want.length && got[j] == want[j]) {
                j++;
            }
            agreed += j;
            total += want.length;
            if (j == want.length) {
                continue;
            }
            // Left the reference at step j: the float32 logits after the same prefix must rank the
            // reference's token and bf16's pick within bfloat16's error of each other.
            int[] prefix = concat(rows.get(i).promptIds(), Arrays.copyOf(want, j));
            float[] logits;
            try (Engine e = Engine.open(EngineConfig.builder(model).maxRunning(1).build())) {
                logits =
                        firstLogits(
                                        e,
                                        List.of(
                                                EngineHarness.request(
                                                        "p", prefix, SamplingParams.greedy(1))))
                                .get("p");
            }
            float maxAbs = 0;
            for (float v : logits) {
                maxAbs = Math.max(maxAbs, Math.abs(v));
            }
            float gap = logits[want[j]] - logits[got[j]];
            assertTrue(
                    gap <= TIE * maxAbs,
                    "row "
                            + i
                            + " leaves the reference at step "
                            + j
                            + " ("
                            + want[j]
                            + " -> "
                            + got[j]
                            + ") where float32 separates them by "
                            + gap
                            + " of max |logit| "
                            + maxAbs);
        }
        System.out.println(
                "Bfloat16Test: bf16 greedy agrees with the reference on "
                        + agreed
                        + " of "
                        + total
                        + " tokens before any divergence");
        assertTrue(agreed > 0, "no agreement at all");
    }

    /** max |want - got| / max |want|, asserted within {@link #ROW} and above zero. */
    private static double relativeError(String what, float[] want, float[] got) {
        float maxAbs = 0;
        float maxDiff = 0;
        int worst = -1;
        for (int v = 0; v < want.length; v++) {
            maxAbs = Math.max(maxAbs, Math.abs(want[v]));
            float d = Math.abs(want[v] - got[v]);
            if (d > maxDiff) {
                maxDiff = d;
                worst = v;
            }
        }
        double ratio = maxDiff / maxAbs;
        assertTrue(
                ratio <= ROW,
                what
                        + ": logit "
                        + worst
                        + " differs by "
                        + maxDiff
                        + " (max |logit| "
                        + maxAbs
                        + ", ratio "
                        + ratio
                        + ")");
        assertTrue(maxDiff > 0, what + ": bf16 logits identical to float32, so bf16 did not run");
        return ratio;
    }

    /** The first-step logits of every request, all prefilled in one batch. */
    static Map<String, float[]> firstLogits(Engine e, List<EngineRequest> requests) {
        requests.forEach(e::submit);
        Batch batch;
        long deadline = System.nanoTime() + 60_000_000_000L;
        do {
            batch = e.scheduleForTest();
        } while (batch.chunks().size() < requests.size() && System.nanoTime() < deadline);
        assertEquals(requests.size(), batch.chunks().size(), "all rows in one batch");
        float[][] got = e.logitsForTest(batch);
        Map<String, float[]> byId = new HashMap<>();
        int i = 0;
        for (Batch.Chunk chunk : batch.chunks()) {
            byId.put(chunk.sequence().id(), got[i++]);
        }
        return byId;
    }

    /** A copy of a model folder with every weight stored as BF16. */
    static Path bf16Copy(Path src, Path dir) throws IOException {
        Files.createDirectories(dir);
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().endsWith(".safetensors")
                        && Files.isRegularFile(f)) {
                    Files.copy(f, dir.resolve(f.getFileName()));
                }
            }
        }
        SafetensorsWriter w = new SafetensorsWriter();
        try (WeightIndex in = WeightIndex.open(src);
                NDManager m = NDManager.newBaseManager()) {
            for (String n : in.names()) {
                NDArray a = in.load(n, m, DataType.FLOAT32);
                w.add(n, DType.BF16, a.getShape().getShape(), a.toFloatArray());
            }
        }
        w.write(dir.resolve("model.safetensors"));
        return dir;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
