package io.flinklora.client;

import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.TokenEvent;
import io.flinklora.schemas.codec.AvroCodec;
import io.flinklora.schemas.codec.DecodeException;

/** What a reply topic carries: token events, completions and errors, told apart by their schema fingerprint. */
final class ReplyRecords {
    private ReplyRecords() {
    }

    /** The record, or null if the value is none of the three (another writer on the topic). */
    static Object decode(byte[] value) {
        for (Class<?> type : new Class<?>[] {TokenEvent.class, Completion.class, GenerationError.class}) {
            try {
                return AvroCodec.fromBytes(value, type);
            } catch (DecodeException e) {
                // not this type: try the next
            }
        }
        return null;
    }
}
