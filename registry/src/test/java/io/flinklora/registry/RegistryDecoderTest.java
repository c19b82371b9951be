package io.flinklora.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.codec.DecodeException;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/**
 * What the decoder decides without a registry's answer: values that cannot be framed records, and a
 * registry that does not answer (a closed port), which must not be blamed on the record. The
 * registry's own answers are tested against a real registry in the job's SchemaRegistryIT.
 */
class RegistryDecoderTest {

    @Test
    void valuesWithoutTheMagicByteOrAWholeIdAreMalformedWithoutAskingTheRegistry()
            throws Exception {
        try (RegistryDecoder d =
                new RegistryDecoder(RegistrySettings.of("http://127.0.0.1:" + closedPort()))) {
            for (byte[] v :
                    new byte[][] {{}, {0}, {0, 0, 0, 1}, {1, 0, 0, 0, 1, 2}, {'{', '}', 0, 0, 0}}) {
                DecodeException e =
                        assertThrows(
                                DecodeException.class, () -> d.decode(v, GenerationRequest.class));
                assertEquals(DecodeException.MALFORMED_INPUT, e.code());
            }
        }
    }

    @Test
    void aRegistryThatCannotBeReachedIsNotTheRecordsFault() throws Exception {
        int port = closedPort();
        try (RegistryDecoder d =
                new RegistryDecoder(RegistrySettings.of("http://127.0.0.1:" + port))) {
            RegistryUnavailableException e =
                    assertThrows(
                            RegistryUnavailableException.class,
                            () ->
                                    d.decode(
                                            new byte[] {0, 0, 0, 0, 7, 2, 'a'},
                                            GenerationRequest.class));
            assertTrue(
                    e.getMessage().contains("127.0.0.1:" + port)
                            && e.getMessage().contains("schema id 7"),
                    e.getMessage());
        }
        try (RegistryEncoder enc =
                new RegistryEncoder(RegistrySettings.of("http://127.0.0.1:" + port))) {
            assertThrows(
                    RegistryUnavailableException.class,
                    () ->
                            enc.encode(
                                    "requests",
                                    GenerationRequest.newBuilder()
                                            .setRequestId("r")
                                            .setPrompt("p")
                                            .build()));
        }
    }

    /** A loopback port nothing listens on (bound, then released). */
    private static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
