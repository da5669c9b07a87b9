import 'reflect-metadata';
import { Allow } from 'class-validator';

const JSON_DOCUMENT_FIELDS = 'validation:json-document-fields';

/**
 * The field holds any JSON value, such as `data` of /rotate and /translate. The global body
 * validation takes it out of the body before class-transformer and class-validator run (both
 * would walk it recursively, and class-transformer drops `__proto__` and `constructor` keys), then
 * puts it back untouched; the service checks it with its bounded walker. The field is required:
 * a missing or null value is refused with ENC001.
 */
export function JsonDocument(): PropertyDecorator {
  return (target, property) => {
    // The instance has the field (as undefined) while the rest is validated: the whitelist must allow it.
    Allow()(target, property);
    const fields = jsonDocumentFields(target.constructor);
    Reflect.defineMetadata(JSON_DOCUMENT_FIELDS, [...fields, String(property)], target.constructor);
  };
}

/** The @JsonDocument fields of a body type (inherited ones included). */
export function jsonDocumentFields(type: unknown): readonly string[] {
  return typeof type === 'function' ? ((Reflect.getMetadata(JSON_DOCUMENT_FIELDS, type) as string[] | undefined) ?? []) : [];
}
