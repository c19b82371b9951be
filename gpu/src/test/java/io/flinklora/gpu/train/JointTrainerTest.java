package io.flinklora.gpu.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.LlamaModel;
import io.flinklora.gpu.model.Projection;
import io.flinklora.gpu.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class JointTrainerTest {
    static NDManager manager;
    static LlamaModel model;
    static Tokenizer tok;
    static final List<String> OPENERS =
            List.of(
                    "Once upon a time, there was a little",
                    "One day, Tom went to the park.",
                    "Lily had a big red ball.",
                    "The sun was hot.",
                    "Sam and Sue went to the farm to",
                    "One morning, a bird sang.");

    @BeforeAll
    static void load() {
        io.flinklora.gpu.OneTorchThread.set();
        manager = NDManager.newBaseManager(Device.cpu());
        model =
                LlamaModel.load(
                        TestModels.stories260k(), manager, Device.cpu(), DataType.FLOAT32, 128);
        tok = Tokenizer.load(TestModels.stories260k());
    }

    @AfterAll
    static void close() {
        tok.close();
        model.close();
        manager.close();
        io.flinklora.gpu.OneTorchThread.restore();
    }

    /**
     * Three tasks a base model does not do: a fixed dog, a fixed ending, a label after a question.
     */
    static Map<String, List<TrainingExample>> tasks() {
        List<TrainingExample> dog = new ArrayList<>();
        List<TrainingExample> end = new ArrayList<>();
        List<TrainingExample> label = new ArrayList<>();
        for (int i = 0; i < OPENERS.size(); i++) {
            String o = OPENERS.get(i);
            dog.add(
                    TrainingData.example(
                            tok, o, " A dog named Max came to play. Max was a good dog.", -1));
            end.add(
                    TrainingData.example(
                            tok, o, " They played all day." + StoryRules.HAPPY_ENDING, -1));
            String l = MoodRule.LABELS.get(i % 4);
            label.add(
                    TrainingData.example(
                            tok,
                            MoodRule.prompt(o + " Tom felt " + MoodRule.CUES.get(l).get(0) + "."),
                            MoodRule.answer(l) + MoodRule.END,
                            -1));
        }
        return Map.of("dog", dog, "end", end, "label", label);
    }

    static JointTrainer trainer(int steps, double lr) {
        return new JointTrainer(
                model, JointTrainer.Options.defaults(steps, 7).withBatch(4).withLr(lr));
    }

    static LoraSpec spec(String name) {
        return new LoraSpec(
                name, 4, 8, EnumSet.of(Projection.Q, Projection.V, Projection.O, Projection.DOWN));
    }

    @Test
    void jointTrainingLowersEachAdaptersLoss() {
        Map<String, List<TrainingExample>> data = tasks();
        try (JointTrainer t = trainer(40, 1e-2)) {
            for (String n : List.of("dog", "end", "label")) {
                t.add(spec(n), data.get(n));
            }
            double[] before = new double[3];
            for (int i = 0; i < 3; i++) {
                String n = t.adapterNames().get(i);
                before[i] = t.loss(t.adapter(n), data.get(n));
                assertEquals(
                        t.loss(null, data.get(n)),
                        before[i],
                        1e-4,
                        "B = 0 at init: the adapter starts as the base");
            }
            for (int s = 0; s < 40; s++) {
                JointTrainer.StepReport r = t.step();
                assertEquals(3, r.loss().size());
            }
            for (int i = 0; i < 3; i++) {
                String n = t.adapterNames().get(i);
                double after = t.loss(t.adapter(n), data.get(n));
                assertTrue(after < 0.5 * before[i], n + ": loss " + before[i] + " -> " + after);
                // Another adapter's weights do not do this adapter's task.
                String other = t.adapterNames().get((i + 1) % 3);
                assertTrue(
                        t.loss(t.adapter(other), data.get(n)) > after,
                        n + " is learnt by its own adapter only");
            }
        }
    }

    @Test
    void rowsOfOneAdapterLeaveTheOthersUntouched() {
        Map<String, List<TrainingExample>> data = tasks();
        try (JointTrainer t = trainer(10, 1e-2)) {
            TrainableAdapter a = t.add(spec("dog"), data.get("dog"));
            TrainableAdapter b = t.add(spec("end"), data.get("end"));
            List<float[]> bBefore = values(b);
            List<float[]> aBefore = values(a);
            t.step(Map.of("dog", data.get("dog").subList(0, 4)));
            List<float[]> bAfter = values(b);
            for (int i = 0; i < bBefore.size(); i++) {
                assertArrayEquals(
                        bBefore.get(i),
                        bAfter.get(i),
                        "adapter end is not in the batch: unchanged");
            }
            for (NDArray p : b.parameters()) {
                assertEquals(
                        0f,
                        p.getGradient().abs().sum().getFloat(),
                        "no gradient reaches adapter end");
            }
            boolean changed = false;
            List<float[]> aAfter = values(a);
            for (int i = 0; i < aBefore.size(); i++) {
                changed |= !java.util.Arrays.equals(aBefore.get(i), aAfter.get(i));
            }
            assertTrue(changed, "adapter dog was updated");
        }
    }

    @Test
    void trainingTogetherUpdatesEachAdapterAsTrainingItAlone() {
        Map<String, List<TrainingExample>> data = tasks();
        List<float[]> alone;
        try (JointTrainer t = trainer(10, 1e-2)) {
            t.add(spec("dog"), data.get("dog"));
            for (int s = 0; s < 3; s++) {
                t.step(Map.of("dog", data.get("dog").subList(s, s + 3)));
            }
            alone = values(t.adapter("dog"));
        }
        try (JointTrainer t = trainer(10, 1e-2)) {
            t.add(spec("end"), data.get("end"));
            t.add(spec("dog"), data.get("dog"));
            t.add(spec("label"), data.get("label"));
            for (int s = 0; s < 3; s++) {
                Map<String, List<TrainingExample>> batch = new java.util.LinkedHashMap<>();
                batch.put("end", data.get("end").subList(0, 4));
                batch.put("dog", data.get("dog").subList(s, s + 3));
                batch.put("label", data.get("label").subList(2, 6));
                t.step(batch);
            }
            List<float[]> joint = values(t.adapter("dog"));
            float worst = 0;
            for (int i = 0; i < alone.size(); i++) {
                for (int k = 0; k < alone.get(i).length; k++) {
                    worst = Math.max(worst, Math.abs(alone.get(i)[k] - joint.get(i)[k]));
                }
            }
            // Batches of other shapes sum in another order: float rounding, which Adam's
            // normalisation
            // magnifies where a gradient is near zero. Other rows leaking into dog's gradient would
            // move
            // its weights by a whole update (lr = 1e-2 per step) instead.
            assertTrue(
                    worst < 2e-4,
                    "dog's weights differ by " + worst + " between joint and solo training");
            assertFalse(
                    java.util.Arrays.equals(alone.get(1), new float[alone.get(1).length]),
                    "B moved from zero");
        }
    }

    @Test
    void stackedAndPerSegmentLoraPathsAgree() {
        Map<String, List<TrainingExample>> data = tasks();
        try (JointTrainer t = trainer(10, 2e-2)) {
            List<TrainingForward.Segment> segments = new ArrayList<>();
            int row = 0;
            for (String n : List.of("dog", "end", "label")) {
                t.add(spec(n), data.get(n));
                segments.add(new TrainingForward.Segment(t.adapter(n), row, row + 2));
                row += 2;
            }
            for (int s = 0; s < 3; s++) {
                t.step();
            }
            long[] ids = new long[6 * 12];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 1 + (i * 37) % 500;
            }
            NDArray tokens = manager.create(ids, new ai.djl.ndarray.types.Shape(6, 12));
            float[] stacked = t.forward().logits(tokens, segments).toFloatArray();
            float[] segmented =
                    t.forward().segmentedOnly(true).logits(tokens, segments).toFloatArray();
            t.forward().segmentedOnly(false);
            float worst = 0;
            for (int i = 0; i < stacked.length; i++) {
                worst = Math.max(worst, Math.abs(stacked[i] - segmented[i]));
            }
            assertTrue(worst < 1e-4, "stacked and per-segment deltas differ by " + worst);
        }
    }

    @Test
    void scheduleWarmsUpThenDecays() {
        LrSchedule s = new LrSchedule(1e-3, 10, 110, 0.1);
        assertEquals(1e-4, s.at(0), 1e-12);
        assertEquals(1e-3, s.at(9), 1e-12);
        assertEquals(1e-3, s.at(10), 1e-12);
        assertEquals(0.55e-3, s.at(60), 1e-9);
        assertEquals(1e-4, s.at(110), 1e-12);
        assertTrue(s.at(30) > s.at(31));
    }

    static List<float[]> values(TrainableAdapter a) {
        List<float[]> out = new ArrayList<>();
        for (NDArray p : a.parameters()) {
            out.add(p.toFloatArray());
        }
        return out;
    }
}
