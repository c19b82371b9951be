package io.flinklora.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.annotation.Internal;
import io.flinklora.annotation.PublicEvolving;
import java.io.IOException;
import java.lang.reflect.AnnotatedElement;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.Member;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every public class in the main code of every module says whether users may call it: {@link
 * PublicEvolving} or {@link Internal}, exactly one. Walks the modules' sources (the root pom's
 * modules, so a new module is covered) and reads the annotations from the compiled classes;
 * generated Avro records are not in the sources.
 */
class ApiMarkingTest {
    @Test
    void everyPublicClassIsMarkedPublicEvolvingOrInternal() throws Exception {
        List<String> wrong = new ArrayList<>();
        int publicClasses = 0;
        for (Class<?> c : mainClasses()) {
            if (!Modifier.isPublic(c.getModifiers())) {
                continue;
            }
            publicClasses++;
            boolean api = c.isAnnotationPresent(PublicEvolving.class);
            boolean internal = c.isAnnotationPresent(Internal.class);
            if (api == internal) {
                wrong.add(c.getName() + (api ? " (both)" : " (neither)"));
            }
        }
        assertEquals(
                List.of(),
                wrong,
                "mark each public class @PublicEvolving (users call it) or @Internal");
        assertTrue(
                publicClasses > 100,
                "the walk found " + publicClasses + " public classes: is project.root right?");
    }

    /**
     * An API member that takes or returns an internal type would make users depend on it: mark
     * it @Internal.
     */
    @Test
    void theApiDoesNotHandOutInternalTypes() throws Exception {
        List<String> leaks = new ArrayList<>();
        for (Class<?> c : mainClasses()) {
            if (!c.isAnnotationPresent(PublicEvolving.class)) {
                continue;
            }
            List<Class<?>> api = new ArrayList<>(List.of(c));
            for (Class<?> nested : c.getDeclaredClasses()) {
                if (Modifier.isPublic(nested.getModifiers())
                        && !nested.isAnnotationPresent(Internal.class)) {
                    api.add(nested);
                }
            }
            for (Class<?> t : api) {
                List<Member> members = new ArrayList<>(List.of(t.getDeclaredMethods()));
                members.addAll(List.of(t.getDeclaredConstructors()));
                members.addAll(List.of(t.getDeclaredFields()));
                for (Member m : members) {
                    if (!Modifier.isPublic(m.getModifiers())
                            || m.isSynthetic()
                            || ((AnnotatedElement) m).isAnnotationPresent(Internal.class)) {
                        continue;
                    }
                    List<Type> types = new ArrayList<>();
                    if (m instanceof Executable e) {
                        types.addAll(List.of(e.getGenericParameterTypes()));
                    }
                    if (m instanceof java.lang.reflect.Method method) {
                        types.add(method.getGenericReturnType());
                    }
                    if (m instanceof Field f) {
                        types.add(f.getGenericType());
                    }
                    for (Type type : types) {
                        internalIn(type)
                                .forEach(
                                        i ->
                                                leaks.add(
                                                        t.getName()
                                                                + "."
                                                                + m.getName()
                                                                + " -> "
                                                                + i));
                    }
                }
            }
        }
        assertEquals(List.of(), leaks, "an @Internal type in a @PublicEvolving signature");
    }

    /**
     * The @Internal project types that {@code type} names, type arguments and array elements
     * included.
     */
    private static List<String> internalIn(Type type) {
        List<String> found = new ArrayList<>();
        if (type instanceof ParameterizedType p) {
            found.addAll(internalIn(p.getRawType()));
            for (Type arg : p.getActualTypeArguments()) {
                found.addAll(internalIn(arg));
            }
        } else if (type instanceof Class<?> c) {
            while (c.isArray()) {
                c = c.getComponentType();
            }
            Class<?> top = c;
            while (top.getEnclosingClass() != null) {
                top = top.getEnclosingClass();
            }
            if (c.isAnnotationPresent(Internal.class) || top.isAnnotationPresent(Internal.class)) {
                found.add(c.getName());
            }
        } else if (type instanceof java.lang.reflect.GenericArrayType g) {
            found.addAll(internalIn(g.getGenericComponentType()));
        }
        return found;
    }

    /** Top-level classes of each module's src/main/java, loaded without initializing them. */
    private static List<Class<?>> mainClasses() throws IOException, ClassNotFoundException {
        Path root = TestPaths.root();
        List<String> names = new ArrayList<>();
        Matcher modules =
                Pattern.compile("<module>([^<]+)</module>")
                        .matcher(Files.readString(root.resolve("pom.xml")));
        while (modules.find()) {
            Path sources = root.resolve(modules.group(1)).resolve("src/main/java");
            if (!Files.isDirectory(sources)) {
                continue; // a module with no Java code (registry-server only builds a test
                // registry)
            }
            try (Stream<Path> files = Files.walk(sources)) {
                files.filter(
                                f ->
                                        f.toString().endsWith(".java")
                                                && !f.endsWith("package-info.java"))
                        .forEach(
                                f -> {
                                    String relative = sources.relativize(f).toString();
                                    names.add(
                                            relative.substring(
                                                            0, relative.length() - ".java".length())
                                                    .replace('/', '.'));
                                });
            }
        }
        List<Class<?>> classes = new ArrayList<>();
        for (String name : names) {
            classes.add(Class.forName(name, false, ApiMarkingTest.class.getClassLoader()));
        }
        return classes;
    }
}
