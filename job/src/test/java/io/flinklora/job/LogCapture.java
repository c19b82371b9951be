package io.flinklora.job;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;

/**
 * Keeps every log event of this JVM (INFO and up, DEBUG for chosen loggers) in memory, rendered
 * with logger, message, context data and stack traces, while the console keeps showing WARN and up
 * only.
 */
final class LogCapture implements AutoCloseable {
    private final ConcurrentLinkedQueue<String> lines = new ConcurrentLinkedQueue<>();
    private final LoggerContext context = (LoggerContext) LogManager.getContext(false);
    private final Appender appender;
    private final Map<String, Appender> consoleAppenders = new HashMap<>();
    private final Level rootLevelBefore;
    private final Map<String, Level> levelsBefore = new HashMap<>();
    private final List<String> added = new ArrayList<>();

    private LogCapture(String... debugLoggers) {
        Configuration config = context.getConfiguration();
        appender =
                new AbstractAppender("capture", null, null, true, Property.EMPTY_ARRAY) {
                    @Override
                    public void append(LogEvent e) {
                        lines.add(render(e));
                    }
                };
        appender.start();
        LoggerConfig root = config.getRootLogger();
        rootLevelBefore = root.getLevel();
        consoleAppenders.putAll(root.getAppenders());
        for (String name : consoleAppenders.keySet()) {
            root.removeAppender(name);
            root.addAppender(consoleAppenders.get(name), Level.WARN, null);
        }
        root.addAppender(appender, null, null);
        root.setLevel(Level.INFO);
        for (String name : debugLoggers) {
            LoggerConfig own = config.getLoggers().get(name);
            if (own != null) {
                levelsBefore.put(name, own.getLevel());
                own.setLevel(Level.DEBUG);
            } else {
                config.addLogger(name, new LoggerConfig(name, Level.DEBUG, true));
                added.add(name);
            }
        }
        context.updateLoggers();
    }

    /** Starts capturing; DEBUG events of {@code debugLoggers} (and their children) are kept too. */
    static LogCapture start(String... debugLoggers) {
        return new LogCapture(debugLoggers);
    }

    private static String render(LogEvent e) {
        StringBuilder b =
                new StringBuilder()
                        .append(e.getLevel())
                        .append(' ')
                        .append(e.getLoggerName())
                        .append(" - ")
                        .append(e.getMessage().getFormattedMessage());
        if (!e.getContextData().isEmpty()) {
            b.append(' ').append(e.getContextData());
        }
        if (e.getThrown() != null) {
            StringWriter w = new StringWriter();
            e.getThrown().printStackTrace(new PrintWriter(w));
            b.append('\n').append(w);
        }
        return b.toString();
    }

    /** Everything captured so far, one event per line (stack traces span several). */
    String text() {
        return String.join("\n", lines);
    }

    int events() {
        return lines.size();
    }

    @Override
    public void close() {
        Configuration config = context.getConfiguration();
        LoggerConfig root = config.getRootLogger();
        root.removeAppender(appender.getName());
        for (Map.Entry<String, Appender> c : consoleAppenders.entrySet()) {
            root.removeAppender(c.getKey());
            root.addAppender(c.getValue(), null, null);
        }
        root.setLevel(rootLevelBefore);
        levelsBefore.forEach((name, level) -> config.getLoggers().get(name).setLevel(level));
        added.forEach(config::removeLogger);
        context.updateLoggers();
        appender.stop();
    }
}
