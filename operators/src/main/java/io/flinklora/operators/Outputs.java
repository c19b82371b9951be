package io.flinklora.operators;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.util.OutputTag;

/** The generation operator's side outputs: token events are its main output. */
@PublicEvolving
public final class Outputs {
    public static final OutputTag<Completion> COMPLETIONS =
            new OutputTag<>("completions", new AvroTypeInfo<>(Completion.class));
    public static final OutputTag<GenerationError> ERRORS =
            new OutputTag<>("errors", new AvroTypeInfo<>(GenerationError.class));

    private Outputs() {}
}
