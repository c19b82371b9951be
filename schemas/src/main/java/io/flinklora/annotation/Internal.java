package io.flinklora.annotation;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Public only so that the project's other packages and modules can use it: no compatibility
 * promise, it may change or go in any release. On a member of a {@link PublicEvolving} type it
 * takes that member out of the API.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME) // read from the compiled classes by the marking test
@Target({ElementType.TYPE, ElementType.METHOD, ElementType.CONSTRUCTOR, ElementType.FIELD})
@PublicEvolving
public @interface Internal {}
