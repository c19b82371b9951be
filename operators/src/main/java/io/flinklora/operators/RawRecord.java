package io.flinklora.operators;

import io.flinklora.annotation.PublicEvolving;

/**
 * A Kafka record as read, before decoding: decoding failures must still know where the bytes came
 * from.
 */
@PublicEvolving
public class RawRecord {
    public byte[] key;
    public byte[] value;
    public String topic;
    public int partition;
    public long offset;

    public RawRecord() {}

    public RawRecord(byte[] key, byte[] value, String topic, int partition, long offset) {
        this.key = key;
        this.value = value;
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
    }

    /** topic/partition/offset, for error records. */
    public String source() {
        return topic + "/" + partition + "/" + offset;
    }
}
