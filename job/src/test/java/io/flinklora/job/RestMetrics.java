package io.flinklora.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.program.ClusterClient;

/**
 * Reads a running job's generation-operator metric names through Flink's REST API, as an operator
 * would.
 */
final class RestMetrics {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RestMetrics() {}

    static String generationMetricIds(ClusterClient<?> client, JobID job) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String base = client.getWebInterfaceURL();
        JsonNode details = get(http, base + "/jobs/" + job);
        String vertex = null;
        for (JsonNode v : details.get("vertices")) {
            if (v.get("name").asText().contains("generation")) {
                vertex = v.get("id").asText();
            }
        }
        if (vertex == null) {
            throw new AssertionError("no generation vertex in " + details);
        }
        // Metric names appear once the metric fetcher has polled the task managers.
        String ids = "";
        for (int attempt = 0; attempt < 50 && !ids.contains("tokensPerSecond"); attempt++) {
            ids =
                    get(http, base + "/jobs/" + job + "/vertices/" + vertex + "/subtasks/metrics")
                            .toString();
            Thread.sleep(200);
        }
        return ids;
    }

    /**
     * Every metric name and value of every vertex of the job, and the job's configuration, as the
     * REST API shows them (call after {@link #generationMetricIds} so the metric fetcher has
     * polled).
     */
    static String everythingShown(ClusterClient<?> client, JobID job) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String base = client.getWebInterfaceURL();
        StringBuilder out = new StringBuilder();
        out.append(get(http, base + "/jobs/" + job + "/config")).append('\n');
        JsonNode details = get(http, base + "/jobs/" + job);
        out.append(details).append('\n');
        for (JsonNode v : details.get("vertices")) {
            String vertex = base + "/jobs/" + job + "/vertices/" + v.get("id").asText();
            List<String> ids = new ArrayList<>();
            get(http, vertex + "/metrics").forEach(m -> ids.add(m.get("id").asText()));
            // A few ids per request keep the URL short; values come back as {"id", "value"} pairs.
            for (int i = 0; i < ids.size(); i += 20) {
                String query =
                        String.join(
                                ",",
                                ids.subList(i, Math.min(ids.size(), i + 20)).stream()
                                        .map(id -> URLEncoder.encode(id, StandardCharsets.UTF_8))
                                        .toList());
                out.append(get(http, vertex + "/metrics?get=" + query)).append('\n');
            }
        }
        return out.toString();
    }

    private static JsonNode get(HttpClient http, String url) throws Exception {
        HttpResponse<String> r =
                http.send(
                        HttpRequest.newBuilder(URI.create(url)).GET().build(),
                        HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(r.body());
    }

    /**
     * The sum over the generation operator's subtasks of one of its metrics (e.g.
     * "cancelledRequests"), as the REST API aggregates it; waits until the metric fetcher reports
     * one that {@code until} accepts.
     */
    static double generationMetricSum(
            ClusterClient<?> client,
            JobID job,
            String metric,
            java.util.function.DoublePredicate until)
            throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String base = client.getWebInterfaceURL();
        String vertex = null;
        for (JsonNode v : get(http, base + "/jobs/" + job).get("vertices")) {
            if (v.get("name").asText().contains("generation")) {
                vertex = v.get("id").asText();
            }
        }
        String url = base + "/jobs/" + job + "/vertices/" + vertex + "/subtasks/metrics";
        double value = Double.NaN;
        for (int attempt = 0; attempt < 100; attempt++) {
            String id = null;
            for (JsonNode m : get(http, url)) {
                if (m.get("id").asText().endsWith("." + metric)) {
                    id = m.get("id").asText();
                }
            }
            if (id != null) {
                JsonNode r =
                        get(
                                http,
                                url
                                        + "?agg=sum&get="
                                        + URLEncoder.encode(id, StandardCharsets.UTF_8));
                value = r.get(0).get("sum").asDouble();
                if (until.test(value)) {
                    return value;
                }
            }
            Thread.sleep(200);
        }
        return value;
    }
}
