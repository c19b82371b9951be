package io.flinklora.operators;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.engine.EngineConfig;
import io.flinklora.gpu.model.ModelFormatException;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.execution.SuppressRestartsException;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model folder the engine refuses (here a generation_config.json asking for beam search) fails
 * the job once, with the refusal as its cause, under a restart strategy that would otherwise retry
 * a thousand times: a deterministic refusal is no reason to restart.
 */
class RefusedModelFailsTheJobOnceTest {
    @RegisterExtension
    static final MiniClusterExtension FLINK =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(1)
                            .build());

    @TempDir Path model;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aRefusedModelFailsTheJobWithoutRestarting() throws Exception {
        try (Stream<Path> files = Files.list(GenerationOperatorRestoreTest.model())) {
            for (Path f : files.toList()) {
                Files.copy(f, model.resolve(f.getFileName()));
            }
        }
        Files.writeString(
                model.resolve("generation_config.json"),
                "{\"bos_token_id\": 1, \"eos_token_id\": 2, \"num_beams\": 4}");
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 1000);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(1);
        GenerationSettings settings =
                GenerationSettings.builder(EngineConfig.builder(model)).device("cpu").build();
        env.fromData(
                        List.of(
                                GenerationRequest.newBuilder()
                                        .setRequestId("r")
                                        .setPrompt("Once upon a time")
                                        .build()),
                        new AvroTypeInfo<>(GenerationRequest.class))
                .keyBy(GenerationRequest::getRequestId, Types.STRING)
                .transform(
                        "multi-LoRA generation",
                        new AvroTypeInfo<>(TokenEvent.class),
                        new GenerationOperatorFactory(settings))
                .sinkTo(new DiscardingSink<>());
        Exception e = assertThrows(Exception.class, env::execute);
        assertTrue(
                ExceptionUtils.findThrowable(e, SuppressRestartsException.class).isPresent(),
                ExceptionUtils.stringifyException(e));
        assertTrue(
                ExceptionUtils.findThrowableWithMessage(e, "num_beams").isPresent()
                        && ExceptionUtils.findThrowable(e, ModelFormatException.class).isPresent(),
                ExceptionUtils.stringifyException(e));
    }
}
