package io.flinklora.operators;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.TokenEvent;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;

/**
 * Creates {@link GenerationOperator}s with their mailbox; use with {@code
 * keyedStream.transform(...)}.
 */
@PublicEvolving
public final class GenerationOperatorFactory extends AbstractStreamOperatorFactory<TokenEvent>
        implements OneInputStreamOperatorFactory<
                io.flinklora.schemas.GenerationRequest, TokenEvent> {
    private static final long serialVersionUID = 1L;
    private final GenerationSettings settings;

    public GenerationOperatorFactory(GenerationSettings settings) {
        this.settings = settings;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends StreamOperator<TokenEvent>> T createStreamOperator(
            StreamOperatorParameters<TokenEvent> parameters) {
        return (T) new GenerationOperator(parameters, settings);
    }

    @Override
    public Class<? extends StreamOperator> getStreamOperatorClass(ClassLoader classLoader) {
        return GenerationOperator.class;
    }
}
