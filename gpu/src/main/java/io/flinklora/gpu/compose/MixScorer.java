package io.flinklora.gpu.compose;

import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Mean token cross-entropy of a task's expected completions under weighted adapter mixes, computed
 * by the engine with teacher forcing: every (weighting, example) pair is one scoring request, and
 * all of them are submitted together, so a whole population of weightings runs as one mixed batch.
 */
@Internal
public final class MixScorer {
    /** An example as token ids: the served prompt and the completion scored after it. */
    public record Tokenized(int[] prompt, int[] continuation) {}

    private final Engine engine;
    private final RequestProcessor front;
    private final List<String> adapters;
    private final List<Tokenized> examples;
    private final long totalTokens;
    private long requests;

    public MixScorer(Engine engine, List<String> adapters, List<ComposeExample> examples) {
        this.engine = engine;
        this.front = RequestProcessor.of(engine);
        this.adapters = List.copyOf(adapters);
        List<Tokenized> t = new ArrayList<>();
        long n = 0;
        for (ComposeExample e : examples) {
            Tokenized x = tokenize(engine.tokenizer(), e);
            t.add(x);
            n += x.continuation().length;
        }
        this.examples = List.copyOf(t);
        this.totalTokens = n;
    }

    /**
     * The prompt and completion tokens as training counts them: {@code input + output} is tokenized
     * whole and the completion starts where those tokens stop agreeing with the input's own, so a
     * word split differently at the boundary is scored as it would be generated.
     */
    static Tokenized tokenize(Tokenizer tok, ComposeExample e) {
        int[] p = tok.encode(e.input());
        int[] full = tok.encode(e.input() + e.output());
        int common = 0;
        while (common < p.length && common < full.length && p[common] == full[common]) {
            common++;
        }
        common = Math.max(1, common);
        if (common >= full.length) {
            throw new IllegalArgumentException(
                    "example output '" + e.output() + "' adds no tokens to its input");
        }
        return new Tokenized(
                java.util.Arrays.copyOf(full, common),
                java.util.Arrays.copyOfRange(full, common, full.length));
    }

    public List<Tokenized> examples() {
        return examples;
    }

    /** Tokens scored per weighting (all examples' completions). */
    public long tokensPerCandidate() {
        return totalTokens;
    }

    public List<String> adapters() {
        return adapters;
    }

    /** The requests of one weighting: one mix of the adapters, every example. */
    public List<AdapterRef> mix(double[] weights) {
        if (weights.length != adapters.size()) {
            throw new IllegalArgumentException(
                    weights.length + " weights for " + adapters.size() + " adapters");
        }
        List<AdapterRef> refs = new ArrayList<>(adapters.size());
        for (int i = 0; i < weights.length; i++) {
            refs.add(new AdapterRef(adapters.get(i), weights[i]));
        }
        return refs;
    }

    /**
     * Each weighting's mean token cross-entropy over all examples (summed negative log-likelihood
     * over summed completion tokens), all weightings in one mixed batch: candidates x examples
     * rows.
     */
    public double[] losses(List<double[]> weightings) {
        Map<String, int[]> where = new HashMap<>();
        for (int c = 0; c < weightings.size(); c++) {
            List<AdapterRef> mix = mix(weightings.get(c));
            for (int x = 0; x < examples.size(); x++) {
                String id = "m" + (requests++);
                Tokenized t = examples.get(x);
                engine.submit(
                        front.process(PromptRequest.score(id, t.prompt(), mix, t.continuation())));
                where.put(id, new int[] {c, x});
            }
        }
        double[] nll = new double[weightings.size()];
        long done =
                engine.runToCompletion(
                        step -> {
                            if (!step.failures().isEmpty()) {
                                throw new IllegalStateException(
                                        "scoring failed: " + step.failures());
                            }
                            for (TokenEvent e : step.events()) {
                                int[] cx = where.get(e.requestId());
                                if (cx == null || e.choice() == null) {
                                    throw new IllegalStateException("unexpected event " + e);
                                }
                                nll[cx[0]] -= e.choice().scores().get(0).logprob();
                            }
                        });
        if (done != where.size()) {
            throw new IllegalStateException(
                    done + " of " + where.size() + " scoring requests finished");
        }
        for (int c = 0; c < nll.length; c++) {
            nll[c] /= totalTokens;
        }
        return nll;
    }
}
