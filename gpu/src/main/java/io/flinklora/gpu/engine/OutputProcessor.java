package io.flinklora.gpu.engine;

import io.flinklora.gpu.tokenizer.IncrementalDetokenizer;
import io.flinklora.gpu.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns the core's token ids into text (vLLM's output processor): incremental detokenizing, stop
 * strings and the final flush. The core decides stop ids, EOS and length; a stop string is found
 * here, so the processor reports which requests it ended and the engine then stops them in the
 * core.
 */
final class OutputProcessor {
    private final Tokenizer tokenizer;
    private final Map<String, Text> texts = new HashMap<>();

    /**
     * One request's text state: the detokenizer, the stop matching that holds back a possible stop
     * string, and the request's min_tokens (stop strings are looked for only after that many
     * tokens, as vLLM's detokenizer does).
     */
    private record Text(IncrementalDetokenizer detokenizer, StopMatcher stops, int minTokens) {
        String add(int index, int tokenId) {
            return stops.append(detokenizer.add(tokenId), index >= minTokens);
        }
    }

    OutputProcessor(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /**
     * Starts a request's text; resumed tokens are replayed so text continues seamlessly (theirs was
     * delivered).
     */
    void add(EngineRequest r) {
        Text t =
                new Text(
                        tokenizer.newDetokenizer(),
                        new StopMatcher(r.params().stop()),
                        r.params().minTokens());
        int[] done = r.generatedIds();
        for (int i = 0; i < done.length; i++) {
            t.add(i, done[i]);
        }
        texts.put(r.id(), t);
    }

    /** Forgets a request that ended without a last event (aborted, failed). */
    void remove(String requestId) {
        texts.remove(requestId);
    }

    void clear() {
        texts.clear();
    }

    /**
     * The events with their text: each token's new characters, held back while they could still
     * start a stop string; a stop string ends the request (finish reason STOP, text cut before it),
     * and its id is added to {@code stopped} when the core had not ended it already.
     */
    List<TokenEvent> process(List<TokenEvent> events, List<String> stopped) {
        List<TokenEvent> out = new ArrayList<>(events.size());
        for (TokenEvent e : events) {
            if (e.choice() != null) {
                // A constrained request's single event already carries its label.
                texts.remove(e.requestId());
                out.add(e);
                continue;
            }
            Text t = texts.get(e.requestId());
            String text = t.add(e.index(), e.tokenId());
            FinishReason reason = e.finishReason();
            if (t.stops().stopped()) {
                if (reason == null) {
                    stopped.add(e.requestId());
                }
                reason = FinishReason.STOP;
            }
            if (reason != null) {
                text = text + t.stops().append(t.detokenizer().flush()) + t.stops().finish();
                texts.remove(e.requestId());
            }
            out.add(
                    new TokenEvent(
                            e.requestId(),
                            e.index(),
                            e.tokenId(),
                            text,
                            reason,
                            e.promptTokens(),
                            null,
                            e.logprobs()));
        }
        return out;
    }
}
