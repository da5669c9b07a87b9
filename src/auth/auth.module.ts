import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { AppConfig } from '../config/app-config';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { JwtAuthGuard } from './jwt-auth.guard';
import { PermissionsGuard } from './permissions.guard';
import { JwksController } from './jwks.controller';
import { JwtStrategy } from './jwt.strategy';
import { VerifiedTokens } from './verified-tokens.service';
import { RevocationController } from './revocation/revocation.controller';
import { TokenRevocations } from './revocation/token-revocation.service';
import { MetricsService } from '../metrics/metrics.service';
import { JwksClock, JwksSigningKeySource } from './jwks-signing-keys';
import { LocalIssuer, SIGNING_KEY_SOURCE, SigningKeySource } from './signing-keys';

@Module({
  imports: [PassportModule, RateLimitModule],
  controllers: [JwksController, RevocationController],
  providers: [
    JwksClock,
    {
      provide: SIGNING_KEY_SOURCE,
      inject: [AppConfig, MetricsService, JwksClock],
      useFactory: (
        { auth, dataDir }: AppConfig,
        metrics: MetricsService,
        clock: JwksClock,
      ): SigningKeySource | Promise<SigningKeySource> =>
        auth.mode === 'local'
          ? LocalIssuer.open(dataDir)
          : new JwksSigningKeySource(auth.jwksUri!, { clock, onUnknownKid: () => metrics.countUnknownSigningKey() }),
    },
    JwtStrategy,
    VerifiedTokens,
    TokenRevocations,
    // Global guards run in this order: authenticate, then count the caller, then check permissions.
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useExisting: RateLimitGuard },
    { provide: APP_GUARD, useClass: PermissionsGuard },
  ],
  exports: [SIGNING_KEY_SOURCE],
})
export class AuthModule {}
