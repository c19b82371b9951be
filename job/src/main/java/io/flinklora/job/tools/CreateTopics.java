package io.flinklora.job.tools;

import io.flinklora.annotation.Internal;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * Creates topics that do not exist yet: {@code CreateTopics BOOTSTRAP PARTITIONS topic...
 * [--kafka.<property> V ...]} (Kafka admin settings such as security, as for the job).
 */
@Internal
public final class CreateTopics {
    private CreateTopics() {}

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        List<String> topics = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            if (args[i].startsWith("--kafka.") && i + 1 < args.length) {
                p.put(args[i].substring("--kafka.".length()), args[++i]);
            } else {
                topics.add(args[i]);
            }
        }
        p.put("bootstrap.servers", args[0]);
        int partitions = Integer.parseInt(args[1]);
        try (Admin admin = Admin.create(p)) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> create = new ArrayList<>();
            for (String t : topics) {
                if (!existing.contains(t)) {
                    create.add(new NewTopic(t, partitions, (short) 1));
                }
            }
            admin.createTopics(create).all().get();
            System.err.println("topics created: " + create.stream().map(NewTopic::name).toList());
        }
    }
}
