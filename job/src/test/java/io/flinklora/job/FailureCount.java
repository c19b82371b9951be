package io.flinklora.job;

import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.minicluster.MiniCluster;

/** How often a job's tasks were restarted, read from the MiniCluster's execution graph. */
final class FailureCount {
    private FailureCount() {}

    static int restarts(MiniCluster cluster, JobClient job) throws Exception {
        AccessExecutionGraph graph = cluster.getExecutionGraph(job.getJobID()).get();
        int max = 0;
        for (AccessExecutionVertex v : graph.getAllExecutionVertices()) {
            max = Math.max(max, v.getCurrentExecutionAttempt().getAttemptNumber());
        }
        return max;
    }
}
