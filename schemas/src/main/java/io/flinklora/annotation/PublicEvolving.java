package io.flinklora.annotation;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * What users call: request and response types and their codecs, the engine, its configuration and
 * front end, the client, the jobs' options and entry points. It may still change in a 0.x release,
 * but on purpose and with a note; a public class marked neither this nor {@link Internal} fails the
 * build ({@code ApiMarkingTest}). Nested types follow their enclosing type unless marked
 * themselves.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME) // read from the compiled classes by the marking test
@Target({ElementType.TYPE, ElementType.METHOD, ElementType.CONSTRUCTOR, ElementType.FIELD})
@PublicEvolving
public @interface PublicEvolving {}
