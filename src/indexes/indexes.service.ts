import { Injectable } from '@nestjs/common';
import { ApiError, invalidInput } from '../common/api-error';
import { assertBatchWithinLimits } from '../common/validation';
import { AppConfig } from '../config/app-config';
import { blindIndex, EmailLocalPart, normalise, NormalisationError, Normalisation, planIndex } from '../envelope/blind-index';
import { KeyMaterialService } from '../keys/key-material.service';
import { BlindIndexDefinition, BlindIndexKeyRepository, BlindIndexVersion, RotationStep } from '../repositories/blind-index-key.repository';
import type { BlindIndexAnswer, IndexDescription } from './dto/index.dto';
import { blindIndexSecret } from '../common/sealed-secrets';

export interface IndexDefinitionInput {
  name: string;
  normalisation: Normalisation;
  emailLocalPart?: EmailLocalPart;
  outputBits: number;
  expectedCardinality: number;
  exactMatch?: boolean;
}

export const indexNotFound = (name: string) => new ApiError('IDX001', `No blind index named ${name}`);

/** What the key provider binds an index key to: the index and the version (KMS encryption context `secret`). */
const secretOf = blindIndexSecret;

/**
 * Blind indexes: defining them (with the leakage budget), computing indexes for a batch of
 * values, and rotating their keys. Keys are generated and sealed by KeyMaterialService; the
 * values and the indexes never leave the answer (no log, no audit).
 */
@Injectable()
export class IndexesService {
  constructor(
    private readonly indexes: BlindIndexKeyRepository,
    private readonly material: KeyMaterialService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Defines an index with a new 256-bit key (version 1). IDX004 when the output size would make
   * indexes unique for the cardinality and the definition does not ask for exactMatch; the same
   * definition again answers the existing index (created: false), another one IDX002.
   */
  async define(input: IndexDefinitionInput, createdBy: string | null): Promise<IndexDescription & { created: boolean }> {
    const definition = {
      ...input,
      emailLocalPart: input.normalisation === 'email' ? (input.emailLocalPart ?? 'exact') : null,
      exactMatch: input.exactMatch ?? false,
    };
    if (input.emailLocalPart && input.normalisation !== 'email')
      throw invalidInput('emailLocalPart applies to the email normalisation only');
    const plan = planIndex(definition.expectedCardinality, definition.outputBits);
    if (plan.unique && !definition.exactMatch) {
      const advice = plan.recommendedBits
        ? `use ${plan.recommendedBits.min} to ${plan.recommendedBits.max} bits`
        : 'no size keeps two values per index';
      throw new ApiError(
        'IDX004',
        `${definition.outputBits} bits over ${definition.expectedCardinality} values leave ${round(plan.expectedCoincidences)} expected coincidences per lookup, fewer than 2: ${advice}, or set exactMatch`,
      );
    }

    const existing = await this.indexes.findOnPrimary(definition.name);
    if (!existing) {
      const sealed = await this.material.generateSecret({ secret: secretOf(definition.name), keyVersion: 1 });
      const created = await this.indexes.create({ ...definition, createdBy }, sealed);
      if (created) return { created: true, ...(await this.describe(definition.name)) };
    }
    const stored = existing ?? (await this.indexes.findOnPrimary(definition.name));
    if (!stored) throw indexNotFound(definition.name);
    const same =
      stored.normalisation === definition.normalisation &&
      stored.emailLocalPart === definition.emailLocalPart &&
      stored.outputBits === definition.outputBits &&
      stored.expectedCardinality === definition.expectedCardinality &&
      stored.exactMatch === definition.exactMatch;
    if (!same) throw new ApiError('IDX002', `A blind index named ${definition.name} exists with another definition; choose another name`);
    return { created: false, ...(await this.describe(definition.name)) };
  }

  async list(): Promise<IndexDescription[]> {
    return (await this.indexes.listOnPrimary()).map(({ definition, versions }) => describe(definition, versions));
  }

  async describe(name: string): Promise<IndexDescription> {
    const found = await this.indexes.describeOnPrimary(name);
    if (!found) throw indexNotFound(name);
    return describe(found.definition, found.versions);
  }

  /**
   * One index per item under the current key, and under the previous key while a rotation is in
   * progress. ENC001 names the first item that does not normalise (never quoting it).
   */
  async compute(name: string, items: string[], field = 'data'): Promise<BlindIndexAnswer> {
    assertBatchWithinLimits(field, items, this.config.limits);
    const found = await this.indexes.liveKeysOnPrimary(name);
    if (!found) throw indexNotFound(name);
    const { definition, keys } = found;
    const rule = { normalisation: definition.normalisation, emailLocalPart: definition.emailLocalPart ?? undefined };
    const normalised = items.map((item, index) => {
      try {
        return normalise(item, rule);
      } catch (error) {
        if (error instanceof NormalisationError)
          throw invalidInput(`${field}[${index}] ${error.message} (index ${name} normalises ${definition.normalisation})`);
        throw error;
      }
    });
    const [current, previous] = await Promise.all(
      keys.slice(0, 2).map(async ({ keyVersion, sealed }) => {
        const key = await this.material.unsealSecret(sealed, { secret: secretOf(name), keyVersion });
        return { keyVersion, indexes: normalised.map((value) => blindIndex(key, value, definition.outputBits)) };
      }),
    );
    return {
      index: name,
      keyVersion: current.keyVersion,
      outputBits: definition.outputBits,
      indexes: current.indexes,
      ...(previous && { previous }),
    };
  }

  /** Starts a rotation: a new key version becomes current; the previous one stays until finishRotation. */
  async rotate(name: string): Promise<IndexDescription> {
    const existing = await this.indexes.findOnPrimary(name);
    if (!existing) throw indexNotFound(name);
    if (existing.rotationStartedAt) throw rotationState(name, 'a rotation is already in progress; finish it first');
    const keyVersion = existing.currentVersion + 1;
    const sealed = await this.material.generateSecret({ secret: secretOf(name), keyVersion });
    check(
      name,
      await this.indexes.startRotation(name, existing.currentVersion, sealed),
      'a rotation is already in progress; finish it first',
    );
    return this.describe(name);
  }

  /** Finishes a rotation: every version before the current one is destroyed (crypto-shred). */
  async finishRotation(name: string): Promise<IndexDescription & { versionsDestroyed: number[] }> {
    const versionsDestroyed = check(name, await this.indexes.finishRotation(name), 'no rotation is in progress');
    return { ...(await this.describe(name)), versionsDestroyed };
  }
}

const rotationState = (name: string, why: string) => new ApiError('IDX003', `Blind index ${name}: ${why}`);

function check<T>(name: string, step: RotationStep<T>, conflict: string): T {
  if (step.outcome === 'missing') throw indexNotFound(name);
  if (step.outcome === 'conflict') throw rotationState(name, conflict);
  return step.value;
}

const round = (value: number) => Number(value.toPrecision(3));

function describe(definition: BlindIndexDefinition, versions: BlindIndexVersion[]): IndexDescription {
  const plan = planIndex(definition.expectedCardinality, definition.outputBits);
  return {
    name: definition.name,
    normalisation: definition.normalisation,
    ...(definition.emailLocalPart && { emailLocalPart: definition.emailLocalPart }),
    outputBits: definition.outputBits,
    expectedCardinality: definition.expectedCardinality,
    exactMatch: definition.exactMatch,
    currentVersion: definition.currentVersion,
    rotationInProgress: versions.filter((version) => !version.destroyedAt).length > 1,
    plan: { ...plan, expectedCoincidences: round(plan.expectedCoincidences) },
    versions: versions.map((version) => ({
      keyVersion: version.keyVersion,
      status: version.destroyedAt ? 'destroyed' : version.keyVersion === definition.currentVersion ? 'current' : 'previous',
      createdAt: version.createdAt.toISOString(),
      ...(version.destroyedAt && { destroyedAt: version.destroyedAt.toISOString() }),
    })),
    createdAt: definition.createdAt.toISOString(),
  };
}
