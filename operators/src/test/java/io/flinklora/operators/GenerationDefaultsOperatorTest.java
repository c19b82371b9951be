package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A streamed request that sets no sampling fields gets the tokens transformers' generate gives with
 * the model's generation_config.json (repetition_penalty, no_repeat_ngram_size, max_new_tokens),
 * and keeps getting them across a snapshot and restore mid-generation: the state holds the request
 * as sent and the restored operator resolves it against the same model.
 */
class GenerationDefaultsOperatorTest {
    @TempDir Path tmp;

    /** stories260k with the "penalties" case's generation_config.json, and transformers' ids. */
    private JsonNode penaltiesCase(Path dir) throws Exception {
        return caseFolder(dir, "penalties");
    }

    /** stories260k with case {@code name}'s generation_config.json; its first result row. */
    private static JsonNode caseFolder(Path dir, String name) throws Exception {
        Path cases =
                GenerationOperatorRestoreTest.model()
                        .getParent()
                        .getParent()
                        .resolve("gpu/src/test/resources");
        Path folder = cases.resolve("generation-config").resolve(name);
        try (Stream<Path> files = Files.list(GenerationOperatorRestoreTest.model())) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        Files.copy(
                folder.resolve("generation_config.json"),
                dir.resolve("generation_config.json"),
                StandardCopyOption.REPLACE_EXISTING);
        for (JsonNode c :
                new ObjectMapper()
                        .readTree(cases.resolve("generation-config/cases.json").toFile())
                        .get("cases")) {
            if (c.get("name").asText().equals(name)) {
                return c.get("results").get(0);
            }
        }
        throw new IllegalStateException("no case " + name);
    }

    @Test
    void unsetFieldsTakeTheModelsDefaultsBeforeAndAfterARestore() throws Exception {
        JsonNode row = penaltiesCase(tmp);
        List<Integer> prompt = new ArrayList<>();
        row.get("prompt").forEach(t -> prompt.add(t.asInt()));
        List<Integer> expected = new ArrayList<>();
        row.get("ids").forEach(t -> expected.add(t.asInt()));
        GenerationRequest r =
                GenerationRequest.newBuilder().setRequestId("d").setPromptIds(prompt).build();
        GenerationSettings settings =
                GenerationSettings.builder(
                                io.flinklora.gpu.engine.EngineConfig.builder(tmp).maxRunning(2))
                        .device("cpu")
                        .build();

        List<TokenEvent> before = new ArrayList<>();
        OperatorSubtaskState snapshot;
        try (var h = GenerationOperatorRestoreTest.harness(settings, 1, 0)) {
            h.open();
            h.processElement(new StreamRecord<>(r));
            snapshot = GenerationOperatorRestoreTest.snapshotAfterFirstStep(h, before);
        }
        assertTrue(before.size() < expected.size(), "snapshot mid-generation: " + before.size());
        List<Integer> got = new ArrayList<>(before.stream().map(TokenEvent::getTokenId).toList());
        try (var h = GenerationOperatorRestoreTest.harness(settings, 1, 0)) {
            h.setup();
            h.initializeState(snapshot);
            h.open();
            GenerationOperatorRestoreTest.runToCompletion(h, 1);
            h.extractOutputValues().forEach(e -> got.add(e.getTokenId()));
        }
        assertEquals(expected, got, "transformers' generate() on the same folder");
    }

    /**
     * On a model whose max_length (20) a 26-token prompt reaches, a generating request is refused
     * as transformers refuses it, while a request scoring choices (which generates nothing) is
     * served.
     */
    @Test
    void theModelsMaxLengthRefusesGenerationButNotScoring() throws Exception {
        caseFolder(tmp, "max_length_only");
        List<Integer> prompt = new ArrayList<>(List.of(1));
        for (int i = 0; i < 5; i++) {
            prompt.addAll(List.of(403, 407, 292, 26, 278));
        }
        GenerationSettings settings =
                GenerationSettings.builder(
                                io.flinklora.gpu.engine.EngineConfig.builder(tmp).maxRunning(2))
                        .device("cpu")
                        .build();
        try (var h = GenerationOperatorRestoreTest.harness(settings, 1, 0)) {
            h.open();
            h.processElement(
                    new StreamRecord<>(
                            GenerationRequest.newBuilder()
                                    .setRequestId("gen")
                                    .setPromptIds(prompt)
                                    .build()));
            h.processElement(
                    new StreamRecord<>(
                            GenerationRequest.newBuilder()
                                    .setRequestId("score")
                                    .setPromptIds(prompt)
                                    .setChoices(List.of("yes", "no"))
                                    .build()));
            GenerationOperatorRestoreTest.runToCompletion(h, 1);
            var errors = h.getSideOutput(Outputs.ERRORS);
            assertEquals(1, errors.size(), String.valueOf(errors));
            var error = errors.iterator().next().getValue();
            assertEquals("gen", error.getRequestId());
            assertEquals("CONTEXT_LENGTH_EXCEEDED", error.getCode());
            var done = h.getSideOutput(Outputs.COMPLETIONS).iterator().next().getValue();
            assertEquals("score", done.getRequestId());
            assertEquals("choice", done.getFinishReason());
        }
    }
}
