package io.flinklora.job.tools;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;

/** Creates topics that do not exist yet: {@code CreateTopics BOOTSTRAP PARTITIONS topic...}. */
public final class CreateTopics {
    private CreateTopics() {
    }

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        int partitions = Integer.parseInt(args[1]);
        try (Admin admin = Admin.create(p)) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> create = new ArrayList<>();
            for (int i = 2; i < args.length; i++) {
                if (!existing.contains(args[i])) {
                    create.add(new NewTopic(args[i], partitions, (short) 1));
                }
            }
            admin.createTopics(create).all().get();
            System.err.println("topics created: " + create.stream().map(NewTopic::name).toList());
        }
    }
}
