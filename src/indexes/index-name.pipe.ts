import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { invalidInput } from '../common/api-error';
import { INDEX_NAME_PATTERN } from '../common/limits';
import { INDEX_NAME_RULE } from './dto/index.dto';

/** Validates the path parameter `name` as a blind-index name (ENC001 otherwise). */
@Injectable()
export class IndexNamePipe implements PipeTransform<string, string> {
  transform(value: string, metadata: ArgumentMetadata): string {
    if (typeof value !== 'string' || !INDEX_NAME_PATTERN.test(value)) throw invalidInput(`${metadata.data ?? 'name'} ${INDEX_NAME_RULE}`);
    return value;
  }
}

/** The path parameter `name` is a blind-index name. */
export const ApiIndexNameParam = () =>
  ApiParam({
    name: 'name',
    description: 'The blind index',
    example: 'sin',
    // In the schema as well: Nest leaves a parameter's own example out when it is given a schema.
    schema: { type: 'string', pattern: INDEX_NAME_PATTERN.source, maxLength: 63, example: 'sin' },
  });
