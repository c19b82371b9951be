package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.LinearModule;
import io.flinklora.gpu.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The module tree PEFT's target matching walks: for every conformance model, the engine's linear
 * modules and the other module paths it knows (which an adapter must not target) are exactly the
 * {@code named_modules} transformers builds for that config, so a target pattern matches here what
 * it matches in PEFT.
 */
class ModuleTreeConformanceTest {
    @TestFactory
    List<DynamicTest> everyModulePathOfEachConformanceModelIsKnownWithItsKind() throws Exception {
        Path dir = TestModels.projectRoot().resolve("gpu/src/test/resources/conformance");
        JsonNode cases =
                new ObjectMapper().readTree(dir.resolve("cases.json").toFile()).get("cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            String name = c.get("model").asText();
            tests.add(
                    DynamicTest.dynamicTest(
                            name,
                            () -> {
                                ModelConfig config = ModelConfig.read(dir.resolve(name));
                                TreeSet<String> engine =
                                        new TreeSet<>(AdapterConfig.nonLinearModules(config));
                                for (int l = 0; l < config.numLayers(); l++) {
                                    for (LinearModule m : config.linearModules(l)) {
                                        engine.add(m.path());
                                    }
                                }
                                TreeSet<String> transformers = new TreeSet<>();
                                c.get("modules").forEach(m -> transformers.add(m.asText()));
                                assertEquals(transformers, engine, name);
                            }));
        }
        return tests;
    }
}
