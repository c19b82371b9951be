package io.flinklora.schemas.codec;

import io.flinklora.annotation.Internal;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.state.SequenceState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

/**
 * Writes the next released file ({@code NAME-vN.avsc}) of every contract whose current schema is
 * not its last released one: what {@code scripts/release-schemas.sh} runs after a contract changed
 * (AvroCodecTest and SequenceStateVersionsTest ask for it). Operator state also needs its version
 * listed in {@link StateCodec#RELEASED} and a committed blob (schemas/README.md, rule 6).
 */
@Internal
public final class ReleaseSchemas {
    private ReleaseSchemas() {}

    public static void main(String[] args) throws IOException {
        Path dir =
                Path.of(args.length > 0 ? args[0] : "schemas/src/main/resources")
                        .resolve("io/flinklora/schemas/released");
        for (Schema current :
                List.of(
                        GenerationRequest.getClassSchema(),
                        TokenEvent.getClassSchema(),
                        Completion.getClassSchema(),
                        GenerationError.getClassSchema(),
                        SequenceState.getClassSchema())) {
            int next = 1;
            Schema last = null;
            while (Files.exists(dir.resolve(current.getName() + "-v" + next + ".avsc"))) {
                last =
                        new Schema.Parser()
                                .parse(
                                        dir.resolve(current.getName() + "-v" + next + ".avsc")
                                                .toFile());
                next++;
            }
            if (last != null
                    && SchemaNormalization.parsingFingerprint64(last)
                            == SchemaNormalization.parsingFingerprint64(current)) {
                System.out.println(current.getName() + ": released as v" + (next - 1));
                continue;
            }
            Path out = dir.resolve(current.getName() + "-v" + next + ".avsc");
            Files.writeString(out, current.toString(true) + "\n");
            System.out.println(current.getName() + ": wrote " + out);
        }
    }
}
