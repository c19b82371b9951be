package io.flinklora.gpu.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.engine.ChoiceScore;
import io.flinklora.gpu.engine.Engine;
import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.engine.StepResult;
import io.flinklora.gpu.engine.TokenEvent;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.errors.RequestFailure;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.route.Router;
import io.flinklora.gpu.route.RouterFile;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The engine's command line ({@code scripts/generate.sh}): JSON Lines requests on stdin, one JSON
 * result line per request on stdout as each finishes, logs on stderr. All requests run through
 * continuous batching together; input is read only as fast as the engine takes it.
 */
@Internal
public final class GenerateCli {
    private static final ObjectMapper JSON = new ObjectMapper();

    private GenerateCli() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        Options o;
        try {
            o = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("generate: " + e.getMessage());
            System.err.println(Options.usage());
            System.exit(2);
            return;
        }
        if (o == null) {
            System.out.println(Options.usage());
            return;
        }
        Engine engine;
        try {
            engine = Engine.open(o.engineConfig());
        } catch (RuntimeException e) {
            System.err.println(
                    "generate: cannot load model from " + o.engine.model + ": " + e.getMessage());
            System.exit(1);
            return;
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        try (engine) {
            Router router = null;
            if (o.router != null) {
                try {
                    router = Router.open(RouterFile.read(o.router), engine);
                } catch (IllegalArgumentException | java.io.IOException e) {
                    System.err.println("generate: router " + o.router + ": " + e.getMessage());
                    System.exit(2);
                    return;
                }
            }
            run(
                    engine,
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)),
                    out,
                    o.engine.maxBatch,
                    router);
        }
        out.flush();
    }

    /** Reads requests, runs them to completion and writes one result line per request. */
    static void run(Engine engine, BufferedReader in, PrintStream out, int maxRunning)
            throws Exception {
        run(engine, in, out, maxRunning, null);
    }

    /**
     * As above; requests with {@code "route": "auto"} get their adapters from {@code router} (null:
     * refused).
     */
    static void run(
            Engine engine, BufferedReader in, PrintStream out, int maxRunning, Router router)
            throws Exception {
        Map<String, Result> results = new HashMap<>();
        RequestProcessor front = RequestProcessor.of(engine);
        boolean more = true;
        long lineNo = 0;
        long started = System.nanoTime();
        long tokens = 0;
        int done = 0;
        while (more || engine.hasWork()) {
            // Keep a bounded queue ahead of the batch so memory stays flat for any input size.
            while (more && engine.stats().waiting() < 2 * maxRunning) {
                String line = in.readLine();
                if (line == null) {
                    more = false;
                    break;
                }
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                String id = null;
                try {
                    RequestJson r = RequestJson.parse(line, lineNo);
                    id = r.id();
                    if (results.containsKey(r.id())) {
                        throw new RequestException(
                                ErrorCode.DUPLICATE_REQUEST,
                                "request '" + r.id() + "' is already in flight");
                    }
                    int[] ids =
                            r.promptIds() != null ? r.promptIds() : front.encodePrompt(r.prompt());
                    Router.Route route = null;
                    if (r.routeAuto()) {
                        if (router == null) {
                            throw new RequestException(
                                    ErrorCode.INVALID_REQUEST,
                                    "\"route\": \"auto\" needs a" + " router file (--router FILE)");
                        }
                        route = routeOf(router, ids);
                    }
                    engine.submit(
                            front.process(
                                    new PromptRequest(
                                                    r.id(),
                                                    ids,
                                                    route == null ? r.adapters() : route.adapters(),
                                                    r.params(front, ids.length),
                                                    null,
                                                    r.choices())
                                            .withPriority(r.priority())));
                    results.put(r.id(), new Result(ids.length, route));
                } catch (RequestException e) {
                    writeError(
                            out,
                            e instanceof RequestJson.Refused refused ? refused.requestId() : id,
                            e.code(),
                            e.getMessage());
                    done++;
                }
            }
            StepResult step = engine.step();
            for (TokenEvent e : step.events()) {
                Result r = results.get(e.requestId());
                r.ids.add(e.tokenId());
                r.text.append(e.text());
                if (e.logprobs() != null) {
                    r.logprobs.add(e.logprobs());
                }
                tokens++;
                if (e.finished()) {
                    results.remove(e.requestId());
                    writeResult(out, e, r);
                    done++;
                }
            }
            for (RequestFailure f : step.failures()) {
                results.remove(f.requestId());
                writeError(out, f.requestId(), f.code(), f.message());
                done++;
            }
        }
        double secs = (System.nanoTime() - started) / 1e9;
        System.err.printf(
                "generate: %d requests, %d tokens in %.2f s (%.1f tokens/s)%n",
                done, tokens, secs, tokens / Math.max(secs, 1e-9));
    }

    private static final class Result {
        final int promptTokens;
        final Router.Route route;
        final List<Integer> ids = new ArrayList<>();
        final List<io.flinklora.gpu.sampling.TokenLogprobs> logprobs = new ArrayList<>();
        final StringBuilder text = new StringBuilder();

        Result(int promptTokens, Router.Route route) {
            this.promptTokens = promptTokens;
            this.route = route;
        }
    }

    /** A prompt the embedder cannot take (longer than the model's positions) is a coded error. */
    private static Router.Route routeOf(Router router, int[] ids) {
        try {
            return router.route(ids);
        } catch (IllegalArgumentException e) {
            throw new RequestException(ErrorCode.LIMIT_EXCEEDED, "cannot route: " + e.getMessage());
        }
    }

    private static void writeResult(PrintStream out, TokenEvent last, Result r)
            throws JsonProcessingException {
        ObjectNode n = JSON.createObjectNode();
        n.put("id", last.requestId());
        ArrayNode ids = n.putArray("token_ids");
        r.ids.forEach(ids::add);
        n.put("text", r.text.toString());
        n.put("finish_reason", last.finishReason().wireName());
        n.put("prompt_tokens", r.promptTokens);
        if (r.route != null) {
            ObjectNode route = n.putObject("route");
            route.put("task", r.route.task());
            ArrayNode used = route.putArray("adapters");
            r.route
                    .adapters()
                    .forEach(a -> used.addObject().put("name", a.name()).put("weight", a.weight()));
            ObjectNode sims = route.putObject("similarity");
            r.route.scores().forEach(s -> sims.put(s.task(), s.similarity()));
        }
        if (!r.logprobs.isEmpty()) {
            ArrayNode lps = n.putArray("logprobs");
            for (io.flinklora.gpu.sampling.TokenLogprobs lp : r.logprobs) {
                ObjectNode t =
                        lps.addObject().put("token_id", lp.tokenId()).put("logprob", lp.logprob());
                ArrayNode top = t.putArray("top");
                lp.top()
                        .forEach(
                                a ->
                                        top.addObject()
                                                .put("token_id", a.tokenId())
                                                .put("logprob", a.logprob()));
            }
        }
        if (last.choice() != null) {
            ArrayNode scores = n.putArray("choices");
            for (ChoiceScore s : last.choice().scores()) {
                scores.addObject()
                        .put("label", s.label())
                        .put("logprob", s.logprob())
                        .put("probability", s.probability());
            }
        }
        out.println(JSON.writeValueAsString(n));
        out.flush();
    }

    static void writeError(PrintStream out, String id, ErrorCode code, String message)
            throws JsonProcessingException {
        ObjectNode n = JSON.createObjectNode();
        if (id == null) {
            n.putNull("id");
        } else {
            n.put("id", id);
        }
        ObjectNode err = n.putObject("error");
        err.put("code", code.name());
        err.put("message", message);
        out.println(JSON.writeValueAsString(n));
        out.flush();
    }

    /** Command-line options: the engine's ({@link EngineOptions}) and a router file. */
    @Command(
            name = "generate",
            sortOptions = false,
            synopsisHeading = "",
            customSynopsis =
                    "usage: scripts/generate.sh --model DIR [--adapters DIR] [--max-batch N] < requests.jsonl > results.jsonl")
    static final class Options {
        @Mixin EngineOptions engine = new EngineOptions();

        @Option(
                names = "--router",
                order = 30,
                paramLabel = "FILE",
                description =
                        "router file: requests with \"route\": \"auto\" "
                                + "get the adapters of the task whose example prompts are nearest (README: Routing requests to adapters)")
        Path router;

        @Option(
                names = {"-h", "--help"},
                order = 31,
                usageHelp = true,
                description = "this text")
        boolean help;

        // The local tool has no Flink slot to ask, so no "auto": the CPU unless told.
        Options() {
            engine.device = "cpu";
        }

        /** The options, or null when {@code --help} was asked for. */
        static Options parse(String[] args) {
            Options o = new Options();
            if (!CliOptions.parse(o, args)) {
                return null;
            }
            if (o.engine.device.equals(EngineOptions.DEFAULT_DEVICE)) {
                throw new IllegalArgumentException(
                        "Invalid value for option '--device': must be one of cpu, gpu here "
                                + "(auto is for jobs), got 'auto'");
            }
            if (o.engine.model == null) {
                throw new IllegalArgumentException("--model is required");
            }
            if (!Files.isDirectory(Path.of(o.engine.model))) {
                throw new IllegalArgumentException(
                        "--model " + o.engine.model + " is not a folder");
            }
            if (o.engine.adapters != null && !Files.isDirectory(Path.of(o.engine.adapters))) {
                throw new IllegalArgumentException(
                        "--adapters " + o.engine.adapters + " is not a folder");
            }
            return o;
        }

        static String usage() {
            return CliOptions.usage(new Options());
        }

        EngineConfig engineConfig() {
            return engine.engineConfig().build();
        }
    }
}
