package io.flinklora.operators.label;

import io.flinklora.annotation.Internal;
import io.flinklora.schemas.GenerationRequest;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Keyed by {@link LabelInput#keyOf}, in BATCH mode: collects the lines of each key (an end-of-key
 * timer fires once the sorted input moves past it), numbers them in content order so that the
 * numbering does not depend on arrival order and is the same in every run, skips those whose record
 * key a previous run already committed, turns the first line of each id into a request and every
 * other line (a duplicate id, a bad record) into a coded error row on {@link #ROWS}.
 */
@Internal
public final class PrepareRecords extends KeyedProcessFunction<String, String, GenerationRequest> {
    private static final long serialVersionUID = 1L;

    /** Rows for the part files that never reach the engine. */
    public static final OutputTag<String> ROWS = new OutputTag<>("label-rows", Types.STRING);

    private final LabelTasks tasks;
    private final String partsDir;
    private final int maxRecordBytes;
    private transient Set<String> committed;
    private transient ListState<String> lines;
    private transient Counter skipped;

    public PrepareRecords(LabelTasks tasks, String partsDir, int maxRecordBytes) {
        this.tasks = tasks;
        this.partsDir = partsDir;
        this.maxRecordBytes = maxRecordBytes;
    }

    @Override
    public void open(OpenContext context) throws Exception {
        committed = PartFiles.committedKeys(Path.of(partsDir));
        lines = getRuntimeContext().getListState(new ListStateDescriptor<>("lines", Types.STRING));
        skipped = getRuntimeContext().getMetricGroup().counter("skippedAlreadyCommitted");
    }

    @Override
    public void processElement(String line, Context ctx, Collector<GenerationRequest> out)
            throws Exception {
        if (!lines.get().iterator().hasNext()) {
            // In BATCH mode event-time timers fire when the sorted input leaves the key: all its
            // lines are in.
            ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
        }
        lines.add(line);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<GenerationRequest> out)
            throws Exception {
        String key = ctx.getCurrentKey();
        List<String> all = new ArrayList<>();
        lines.get().forEach(all::add);
        lines.clear();
        all.sort(null);
        for (int occurrence = 0; occurrence < all.size(); occurrence++) {
            String line = all.get(occurrence);
            String recordKey = LabelInput.recordKey(key, occurrence);
            if (committed.contains(recordKey)) {
                skipped.inc();
                continue;
            }
            if (LabelInput.hasId(key) && occurrence > 0) {
                ctx.output(
                        ROWS,
                        LabelRows.inputError(
                                recordKey,
                                "DUPLICATE_ID",
                                "id '"
                                        + key
                                        + "' appears on "
                                        + all.size()
                                        + " lines; one of them is labelled",
                                line));
                continue;
            }
            try {
                out.collect(LabelInput.parse(line, tasks, maxRecordBytes));
            } catch (LabelError e) {
                ctx.output(ROWS, LabelRows.inputError(recordKey, e.code(), e.getMessage(), line));
            }
        }
    }
}
