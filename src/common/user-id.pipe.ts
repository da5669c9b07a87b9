import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { invalidInput } from './api-error';
import { isUserId, USER_ID_DESCRIPTION } from './user-id';

/** Validates a path parameter as a user id (ENC001 otherwise). */
@Injectable()
export class UserIdPipe implements PipeTransform<string, string> {
  transform(value: string, metadata: ArgumentMetadata): string {
    if (!isUserId(value)) throw invalidInput(`${metadata.data ?? 'userId'} must be ${USER_ID_DESCRIPTION}, e.g. "42"`);
    return value;
  }
}
