package io.flinklora.gpu.cli;

import io.flinklora.annotation.Internal;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import picocli.CommandLine;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.TypeConversionException;

/**
 * The one option parser of the job, the labelling job and the tools: picocli, with this project's
 * messages.
 */
@Internal
public final class CliOptions {
    private CliOptions() {}

    /**
     * Options named {@code <prefix><property>} that are handed on unparsed (the job's {@code
     * --kafka.*}), with which properties hold secrets: their values never appear in a message.
     */
    public record PassThrough(String prefix, Map<String, String> into, Predicate<String> secret) {}

    /**
     * A command that gives some mixed-in options other names than their own (the labelling job
     * calls the engine's {@code --max-batch} {@code --batch}): the option is the same, only its
     * name differs.
     */
    public interface Renames {
        /** Each option's own name, mapped to the name this command gives it. */
        Map<String, String> renamedOptions();
    }

    /**
     * Fills the {@code @Option}-annotated fields and setters of {@code options} from {@code --name
     * value} or {@code --name=value}; a later occurrence wins. Returns false when {@code --help}
     * was asked for.
     *
     * @throws IllegalArgumentException with a message that names the option at fault
     */
    public static boolean parse(Object options, String[] args) {
        return parse(options, args, null);
    }

    /**
     * As {@link #parse(Object, String[])}, also collecting the options of {@code pass} (may be
     * null).
     */
    public static boolean parse(Object options, String[] args, PassThrough pass) {
        CommandLine cl = commandLine(options);
        CommandSpec spec = cl.getCommandSpec();
        if (pass != null) {
            passThroughOptions(args, pass).forEach(spec::addOption);
        }
        spec.addPositional(
                PositionalParamSpec.builder()
                        .arity("0..*")
                        .hidden(true)
                        .type(String.class)
                        .parameterConsumer(
                                (rest, argSpec, cmd) -> {
                                    throw stray(
                                            cmd.commandLine(),
                                            args,
                                            args.length - rest.size(),
                                            rest.peek(),
                                            pass);
                                })
                        .build());
        try {
            cl.parseArgs(args);
        } catch (ParameterException e) {
            throw new IllegalArgumentException(message(e), e);
        }
        return !cl.isUsageHelpRequested();
    }

    /** The usage text of {@code options}, generated from its annotations (defaults included). */
    public static String usage(Object options) {
        StringWriter s = new StringWriter();
        commandLine(options).usage(new PrintWriter(s));
        return s.toString().stripTrailing();
    }

    private static CommandLine commandLine(Object options) {
        CommandLine cl = new CommandLine(options);
        // As the hand-written parsers did: the last of a repeated option wins.
        cl.setOverwrittenOptionsAllowed(true);
        cl.setUsageHelpWidth(130);
        cl.setUsageHelpLongOptionsMaxWidth(36);
        if (options instanceof Renames r) {
            CommandSpec spec = cl.getCommandSpec();
            r.renamedOptions()
                    .forEach(
                            (own, given) -> {
                                OptionSpec option = spec.findOption(own);
                                spec.remove(option);
                                spec.addOption(option.toBuilder().names(given).build());
                            });
        }
        return cl;
    }

    private static Set<OptionSpec> passThroughOptions(String[] args, PassThrough pass) {
        Set<String> names = new LinkedHashSet<>();
        for (String a : args) {
            if (a.startsWith(pass.prefix()) && a.length() > pass.prefix().length()) {
                int eq = a.indexOf('=');
                names.add(eq < 0 ? a : a.substring(0, eq));
            }
        }
        Set<OptionSpec> specs = new LinkedHashSet<>();
        for (String name : names) {
            String property = name.substring(pass.prefix().length());
            specs.add(
                    OptionSpec.builder(name)
                            .arity("1")
                            .paramLabel("V")
                            .type(String.class)
                            .hidden(true)
                            .setter(
                                    new CommandLine.Model.ISetter() {
                                        @Override
                                        public <T> T set(T value) {
                                            // picocli resets options to their initial value (null)
                                            // before parsing
                                            if (value != null) {
                                                pass.into().put(property, (String) value);
                                            }
                                            return null;
                                        }
                                    })
                            .build());
        }
        return specs;
    }

    /**
     * A word where an option was expected. After a secret setting it is most likely a piece of the
     * value (unquoted in a shell), so it is not shown.
     */
    private static ParameterException stray(
            CommandLine cmd, String[] args, int index, String word, PassThrough pass) {
        String previous = null;
        for (int i = index - 1; i >= 0 && previous == null; i--) {
            if (args[i].startsWith("--")) {
                int eq = args[i].indexOf('=');
                previous = eq < 0 ? args[i] : args[i].substring(0, eq);
            }
        }
        if (previous != null && cmd.getCommandSpec().findOption(previous) == null) {
            return new ParameterException(cmd, "unknown option " + previous);
        }
        boolean secret =
                pass != null
                        && previous != null
                        && previous.startsWith(pass.prefix())
                        && pass.secret().test(previous.substring(pass.prefix().length()));
        return new ParameterException(
                cmd,
                "unexpected argument "
                        + (secret ? "(not shown)" : "'" + word + "'")
                        + (previous == null
                                ? ""
                                : " after "
                                        + previous
                                        + " and its value (quote values that contain spaces)"));
    }

    private static String message(ParameterException e) {
        if (e instanceof CommandLine.MissingParameterException m
                && !m.getMissing().isEmpty()
                && m.getMissing().get(0) instanceof OptionSpec o) {
            return "option " + o.longestName() + " needs a value";
        }
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            // Only the name: the value after '=' may be a secret given under a mistyped name.
            String first = u.getUnmatched().get(0);
            int eq = first.indexOf('=');
            return "unknown option " + (eq < 0 ? first : first.substring(0, eq));
        }
        // A setter or converter that throws IllegalArgumentException has written the whole message.
        if (e.getCause() instanceof IllegalArgumentException iae && iae.getMessage() != null) {
            return iae.getMessage();
        }
        return e.getMessage();
    }

    /** A positive int, or a message that says so. */
    public static final class Positive implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String v) {
            return (int) positive(v, Integer.MAX_VALUE);
        }
    }

    /** A positive long, or a message that says so. */
    public static final class PositiveLong implements ITypeConverter<Long> {
        @Override
        public Long convert(String v) {
            return positive(v, Long.MAX_VALUE);
        }
    }

    private static long positive(String v, long max) {
        try {
            long n = Long.parseLong(v);
            if (n > 0 && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // the message below says what is wanted
        }
        throw new TypeConversionException("needs a positive integer, got '" + v + "'");
    }

    /** One of a fixed set of words; subclasses name the set. */
    public abstract static class OneOf implements ITypeConverter<String> {
        private final Set<String> allowed;

        protected OneOf(String... allowed) {
            this.allowed = new LinkedHashSet<>(java.util.List.of(allowed));
        }

        @Override
        public String convert(String v) {
            if (!allowed.contains(v)) {
                throw new TypeConversionException(
                        "must be one of " + String.join(", ", allowed) + ", got '" + v + "'");
            }
            return v;
        }
    }

    /**
     * {@code on} or {@code off}. A String, set through a setter method: picocli treats boolean
     * options as flags and would run a converter again over its own "true"/"false".
     */
    public static final class OnOff extends OneOf {
        public OnOff() {
            super("on", "off");
        }
    }

    /** Whose defaults requests get: the model folder's or the engine's. */
    public static final class GenerationConfig extends OneOf {
        public GenerationConfig() {
            super("model", "engine");
        }
    }

    /** A compute dtype. */
    public static final class Dtype extends OneOf {
        public Dtype() {
            super("float32", "float16", "bfloat16");
        }
    }

    /** A LoRA strategy, as the options spell it. */
    public static final class Strategy extends OneOf {
        public Strategy() {
            super("pooled", "segmented", "gathered", "loop");
        }
    }

    /** Where the job's engines run. */
    public static final class DeviceChoice extends OneOf {
        public DeviceChoice() {
            super("auto", "cpu", "gpu");
        }
    }
}
