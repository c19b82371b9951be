package io.flinklora.gpu.route;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.lora.AdapterRef;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Chooses a request's adapters from its prompt: a task's similarity is the cosine of the prompt's
 * embedding to the task's nearest example prompt; the most similar task's mix, or with top_k > 1
 * the top-k tasks' mixes summed with softmax(similarity / temperature) weights.
 */
@Internal
public final class Router {
    /** A task's similarity to a prompt. */
    public record Score(String task, double similarity) {}

    /**
     * The routing decision reported with a completion: the nearest task, the adapters used, and
     * every task's similarity (best first); {@code weights} are the top-k tasks' softmax weights.
     */
    public record Route(
            String task,
            List<AdapterRef> adapters,
            List<Score> scores,
            Map<String, Double> weights) {}

    private final RouterFile file;
    private final PromptEmbedder embedder;

    /**
     * Per task, its examples' unit embeddings. Nearest example rather than a centroid: a task's
     * examples may be of several shapes (story openers of different templates), whose mean
     * resembles none of them.
     */
    private final float[][][] examples;

    public Router(RouterFile file, PromptEmbedder embedder) {
        this.file = file;
        this.embedder = embedder;
        List<List<float[]>> byTask = new ArrayList<>();
        for (RouterFile.Task t : file.tasks()) {
            List<float[]> e = new ArrayList<>();
            for (String example : t.examples()) {
                e.add(embedder.embed(example));
            }
            byTask.add(e);
        }
        this.examples = new float[byTask.size()][][];
        for (int t = 0; t < examples.length; t++) {
            examples[t] = new float[byTask.get(t).size()][];
            for (int j = 0; j < examples[t].length; j++) {
                examples[t][j] = byTask.get(t).get(j);
            }
        }
    }

    /** A router embedding with {@code engine}'s base model, at the file's layer. */
    public static Router open(RouterFile file, io.flinklora.gpu.engine.Engine engine) {
        return new Router(
                file,
                file.layer() == null
                        ? PromptEmbedder.of(engine)
                        : PromptEmbedder.of(engine, file.layer()));
    }

    public RouterFile file() {
        return file;
    }

    public Route route(int[] promptIds) {
        return route(embedder.embed(promptIds));
    }

    /** Routes a unit-length prompt embedding (as {@link PromptEmbedder} makes). */
    public Route route(float[] embedding) {
        int n = examples.length;
        double[] sim = new double[n];
        Integer[] order = new Integer[n];
        for (int t = 0; t < n; t++) {
            sim[t] = Double.NEGATIVE_INFINITY;
            for (float[] x : examples[t]) {
                double dot = 0;
                for (int i = 0; i < embedding.length; i++) {
                    dot += (double) embedding[i] * x[i];
                }
                sim[t] = Math.max(sim[t], dot);
            }
            order[t] = t;
        }
        Arrays.sort(order, (a, b) -> Double.compare(sim[b], sim[a]));
        List<Score> scores = new ArrayList<>();
        for (int t : order) {
            scores.add(new Score(file.tasks().get(t).name(), sim[t]));
        }
        int k = file.topK();
        double[] w = new double[k];
        double sum = 0;
        for (int j = 0; j < k; j++) {
            w[j] = Math.exp((sim[order[j]] - sim[order[0]]) / file.temperature());
            sum += w[j];
        }
        Map<String, Double> mix = new LinkedHashMap<>();
        Map<String, Double> weights = new LinkedHashMap<>();
        for (int j = 0; j < k; j++) {
            RouterFile.Task task = file.tasks().get(order[j]);
            double share = w[j] / sum;
            weights.put(task.name(), share);
            for (AdapterRef a : task.adapters()) {
                mix.merge(a.name(), share * a.weight(), Double::sum);
            }
        }
        List<AdapterRef> adapters = new ArrayList<>();
        mix.forEach((name, weight) -> adapters.add(new AdapterRef(name, weight)));
        return new Route(file.tasks().get(order[0]).name(), adapters, scores, weights);
    }
}
