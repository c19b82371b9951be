package io.flinklora.gpu.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.flinklora.gpu.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Constrained labelling by teacher forcing: each choice's log-likelihood after the prompt (the sum of
 * its tokens' log-probabilities), the best choice wins. Runs the trainer's forward without gradients.
 *
 * <p>TODO(merge): the engine is gaining constrained "choices" scoring (branch labelling); once that is
 * in main, evaluate the labeller through it so the measured accuracy is the served one end to end.
 * Until then this scorer's forward is tied to the engine's by {@code TrainingForwardTest}.
 */
public final class LabelScorer {
    private LabelScorer() {
    }

    /** Log-likelihood of each choice per prompt: {@code [prompts][choices]}. */
    public static double[][] score(TrainingForward forward, TrainableAdapter adapter, Tokenizer tok,
                                   List<String> prompts, List<String> choices, NDManager manager) {
        double[][] out = new double[prompts.size()][choices.size()];
        int perChunk = Math.max(1, 32 / choices.size());
        for (int from = 0; from < prompts.size(); from += perChunk) {
            int to = Math.min(prompts.size(), from + perChunk);
            List<int[]> rows = new ArrayList<>();
            List<Integer> starts = new ArrayList<>();
            for (int i = from; i < to; i++) {
                for (String c : choices) {
                    TrainingExample e = TrainingData.example(tok, prompts.get(i), c, -1);
                    rows.add(e.ids());
                    starts.add(e.lossFrom());
                }
            }
            int len = rows.stream().mapToInt(r -> r.length).max().orElse(1);
            long[] tokens = new long[rows.size() * len];
            long[] targets = new long[rows.size() * len];
            for (int r = 0; r < rows.size(); r++) {
                int[] ids = rows.get(r);
                for (int i = 0; i < ids.length; i++) {
                    tokens[r * len + i] = ids[i];
                    targets[r * len + i] = i + 1 < ids.length ? ids[i + 1] : 0;
                }
            }
            float[] logp;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray t = Tensors.create(manager, tokens, new Shape(rows.size(), len));
                NDArray logits = forward.logits(t, List.of(new TrainingForward.Segment(adapter, 0, rows.size())));
                logp = logits.logSoftmax(-1).gather(Tensors.create(manager, targets, new Shape(targets.length)).expandDims(1), 1).reshape(-1).toFloatArray();
            }
            for (int r = 0; r < rows.size(); r++) {
                double sum = 0;
                // Position i predicts token i + 1: the choice's tokens start at starts[r].
                for (int i = starts.get(r) - 1; i < rows.get(r).length - 1; i++) {
                    sum += logp[r * len + i];
                }
                out[from + r / choices.size()][r % choices.size()] = sum;
            }
        }
        return out;
    }

    /** The best choice per prompt. */
    public static List<String> choose(TrainingForward forward, TrainableAdapter adapter, Tokenizer tok,
                                      List<String> prompts, List<String> choices, NDManager manager) {
        double[][] s = score(forward, adapter, tok, prompts, choices, manager);
        List<String> out = new ArrayList<>();
        for (double[] row : s) {
            int best = 0;
            for (int c = 1; c < row.length; c++) {
                if (row[c] > row[best]) {
                    best = c;
                }
            }
            out.add(choices.get(best));
        }
        return out;
    }
}
