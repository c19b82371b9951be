package io.flinklora.job;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.operators.DecodeRequests;
import io.flinklora.operators.GenerationOperatorFactory;
import io.flinklora.operators.Outputs;
import io.flinklora.operators.RawRecord;
import io.flinklora.operators.kafka.RawRecordDeserializer;
import io.flinklora.operators.kafka.RecordSerializer;
import io.flinklora.operators.kafka.ReplyTopics;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The streaming job: Kafka requests -> decode (bad records become error records) ->
 * keyBy(request_id) -> multi-LoRA generation -> token events, completions and errors, each to its
 * Kafka topic.
 */
@PublicEvolving
public final class StreamingJob {
    private static final Logger LOG = LoggerFactory.getLogger(StreamingJob.class);

    private StreamingJob() {}

    public static void main(String[] args) throws Exception {
        JobOptions options;
        try {
            options = args.length == 0 ? null : JobOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        if (options == null) {
            System.out.println(JobOptions.usage());
            return;
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        build(env, options);
        env.execute("flink-lora generation");
    }

    /**
     * Cluster settings the job wants (also in flink-conf/config.yaml): buffer debloating keeps the
     * data in flight ahead of a checkpoint barrier to about a second of processing, so checkpoints
     * (and with them exactly-once commits) keep their pace while generation back-pressures Kafka.
     */
    public static org.apache.flink.configuration.Configuration recommendedClusterConfig() {
        org.apache.flink.configuration.Configuration c =
                new org.apache.flink.configuration.Configuration();
        c.setString("taskmanager.network.memory.buffer-debloat.enabled", "true");
        c.setString("taskmanager.network.memory.buffer-debloat.target", "500ms");
        return c;
    }

    /** Adds the job's topology to {@code env} and enables checkpointing as the options say. */
    public static void build(StreamExecutionEnvironment env, JobOptions o) {
        LOG.info(
                "flink-lora streaming job: {}",
                o); // secret Kafka values are hidden by JobOptions.toString
        env.enableCheckpointing(o.checkpointInterval, CheckpointingMode.EXACTLY_ONCE);
        Properties kafka = o.kafkaProperties();
        KafkaSource<RawRecord> source =
                KafkaSource.<RawRecord>builder()
                        .setBootstrapServers(o.bootstrapServers)
                        .setTopics(o.requestTopics)
                        .setGroupId(o.groupId)
                        .setStartingOffsets(
                                switch (o.startingOffsets) {
                                    case "earliest" -> OffsetsInitializer.earliest();
                                    case "latest" -> OffsetsInitializer.latest();
                                    default ->
                                            OffsetsInitializer.committedOffsets(
                                                    OffsetResetStrategy.EARLIEST);
                                })
                        .setDeserializer(new RawRecordDeserializer())
                        .setProperties(kafka)
                        .build();
        DataStream<RawRecord> raw =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "kafka requests")
                        .uid("kafka-requests");
        SingleOutputStreamOperator<GenerationRequest> requests =
                raw.process(
                                new DecodeRequests(
                                        o.maxRequestBytes,
                                        new ReplyTopics(
                                                o.replyTopicPattern, adminProperties(o, kafka)),
                                        o.schemaRegistry),
                                new AvroTypeInfo<>(GenerationRequest.class))
                        .name("decode requests")
                        .uid("decode");
        SingleOutputStreamOperator<TokenEvent> tokens =
                requests.keyBy(GenerationRequest::getRequestId, Types.STRING)
                        .transform(
                                "multi-LoRA generation",
                                new AvroTypeInfo<>(TokenEvent.class),
                                new GenerationOperatorFactory(o.generationSettings()))
                        .uid("generate");
        if (o.parallelism > 0) {
            tokens.setParallelism(o.parallelism);
        }
        DataStream<Completion> completions = tokens.getSideOutput(Outputs.COMPLETIONS);
        DataStream<GenerationError> errors =
                requests.getSideOutput(Outputs.ERRORS).union(tokens.getSideOutput(Outputs.ERRORS));
        tokens.sinkTo(sink(o, o.tokenTopic, "tokens", kafka))
                .name("token events to " + o.tokenTopic)
                .uid("sink-tokens");
        completions
                .sinkTo(sink(o, o.completionTopic, "completions", kafka))
                .name("completions to " + o.completionTopic)
                .uid("sink-completions");
        errors.sinkTo(sink(o, o.errorTopic, "errors", kafka))
                .name("errors to " + o.errorTopic)
                .uid("sink-errors");
    }

    /**
     * bootstrap.servers plus the job's Kafka client settings (security), for the reply-topic check.
     */
    private static Properties adminProperties(JobOptions o, Properties kafka) {
        Properties p = new Properties();
        p.putAll(kafka);
        p.put("bootstrap.servers", o.bootstrapServers);
        return p;
    }

    private static <T> KafkaSink<T> sink(
            JobOptions o, String topic, String name, Properties kafka) {
        Properties props = new Properties();
        props.putAll(kafka);
        // Below the broker's transaction.max.timeout.ms (15 min by default), above checkpoint
        // intervals.
        props.putIfAbsent("transaction.timeout.ms", "600000");
        return KafkaSink.<T>builder()
                .setBootstrapServers(o.bootstrapServers)
                .setRecordSerializer(
                        new RecordSerializer<>(topic, o.outputFormat, o.schemaRegistry))
                .setDeliveryGuarantee(
                        o.delivery == JobOptions.Delivery.EXACTLY_ONCE
                                ? DeliveryGuarantee.EXACTLY_ONCE
                                : DeliveryGuarantee.AT_LEAST_ONCE)
                .setTransactionalIdPrefix(o.transactionalIdPrefix + "-" + name)
                .setKafkaProducerConfig(props)
                .build();
    }
}
