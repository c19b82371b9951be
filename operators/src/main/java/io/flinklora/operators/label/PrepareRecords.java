package io.flinklora.operators.label;

import io.flinklora.schemas.GenerationRequest;
import java.nio.file.Path;
import java.util.Set;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Keyed by {@link LabelInput#keyOf}: numbers the lines of each key, skips those whose record key a
 * previous run already committed, turns the first line of each id into a request and every other
 * line (a duplicate id, a bad record) into a coded error row on {@link #ROWS}.
 */
public final class PrepareRecords extends KeyedProcessFunction<String, String, GenerationRequest> {
    private static final long serialVersionUID = 1L;
    /** Rows for the part files that never reach the engine. */
    public static final OutputTag<String> ROWS = new OutputTag<>("label-rows", Types.STRING);

    private final LabelTasks tasks;
    private final String partsDir;
    private final int maxRecordBytes;
    private transient Set<String> committed;
    private transient ValueState<Integer> seen;
    private transient Counter skipped;

    public PrepareRecords(LabelTasks tasks, String partsDir, int maxRecordBytes) {
        this.tasks = tasks;
        this.partsDir = partsDir;
        this.maxRecordBytes = maxRecordBytes;
    }

    @Override
    public void open(OpenContext context) throws Exception {
        committed = PartFiles.committedKeys(Path.of(partsDir));
        seen = getRuntimeContext().getState(new ValueStateDescriptor<>("occurrences", Types.INT));
        skipped = getRuntimeContext().getMetricGroup().counter("skippedAlreadyCommitted");
    }

    @Override
    public void processElement(String line, Context ctx, Collector<GenerationRequest> out) throws Exception {
        String key = ctx.getCurrentKey();
        Integer n = seen.value();
        int occurrence = n == null ? 0 : n;
        seen.update(occurrence + 1);
        String recordKey = LabelInput.recordKey(key, occurrence);
        if (committed.contains(recordKey)) {
            skipped.inc();
            return;
        }
        if (LabelInput.hasId(key) && occurrence > 0) {
            ctx.output(ROWS, LabelRows.inputError(recordKey, "DUPLICATE_ID", "id '" + key + "' appears "
                    + (occurrence + 1) + " or more times in the input; only its first line is labelled", line));
            return;
        }
        try {
            GenerationRequest r = LabelInput.parse(line, tasks, maxRecordBytes);
            out.collect(r);
        } catch (LabelError e) {
            ctx.output(ROWS, LabelRows.inputError(recordKey, e.code(), e.getMessage(), line));
        }
    }
}
